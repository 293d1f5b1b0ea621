"""The operator's console test bed: configuration with `[admin] enabled`, an operator, a logged-in client."""

import httpx

from events_api_support import API_CONFIG

CONSOLE_CONFIG = API_CONFIG + "\n[admin]\nenabled = true\nlogin_attempts = 6\n"
OPERATOR, PASSWORD = "ops", "correct-horse-battery"


async def console_login(client: httpx.AsyncClient, username: str = OPERATOR, password: str = PASSWORD) -> httpx.Response:
    """Piccolo's session login, CSRF token included (the client keeps both cookies)."""
    await client.get("/admin/")
    return await client.post(
        "/admin/public/login/",
        json={"username": username, "password": password},
        headers=csrf_header(client),
    )


def csrf_header(client: httpx.AsyncClient) -> dict[str, str]:
    """The double-submit header Piccolo's CSRF middleware wants on every write."""
    return {"X-CSRFToken": client.cookies.get("csrftoken", "")}
