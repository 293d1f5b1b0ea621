"""The operator's console (`clarion.console`), mounted at /admin/ when `[admin] enabled = true`."""

from urllib.parse import unquote

from litestar import Litestar
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send

from clarion.process import Runtime
from clarion.settings import AdminSettings

CONSOLE_PATH = "/admin"


def console_handler(admin: AdminSettings) -> ASGIRouteHandler:
    """The mount: hands every request under /admin/ to the console, unchanged (path, trailing slash).

    The console (Piccolo Admin, FastAPI, pydantic) is imported only here, when it is enabled: a
    `clarion serve` without it loads none of that.
    """
    from clarion.console.app import create_console

    runtime: list[Runtime] = []  # the serving app's runtime, set by each request (it exists once the app started)
    console = create_console(admin, lambda: runtime[0])

    # The console has its own session login: no API key (Litestar hands the key middleware the stripped
    # path, and the console's own /api/… would otherwise look like Clarion's API).
    @asgi(CONSOLE_PATH, is_static=True, copy_scope=True, include_in_schema=False, opt={"exclude_from_auth": True})
    async def serve_console(scope: Scope, receive: Receive, send: Send) -> None:
        app: Litestar = scope["litestar_app"]
        runtime[:] = [app.state.runtime]
        # Litestar strips the mount path and a trailing slash; the console's routes need both, so
        # give it the path as requested with /admin as its root path.
        raw_path = scope.get("raw_path")
        path = unquote(raw_path.decode("latin-1")) if raw_path else CONSOLE_PATH + scope["path"]
        if path == CONSOLE_PATH:
            await _redirect(f"{CONSOLE_PATH}/", send)
            return
        scope["path"] = path
        scope["root_path"] = scope.get("root_path", "") + CONSOLE_PATH
        await console(scope, receive, send)  # type: ignore[arg-type]

    return serve_console


async def _redirect(location: str, send: Send) -> None:
    await send({
        "type": "http.response.start",
        "status": 308,
        "headers": [(b"location", location.encode()), (b"content-length", b"0")],
    })
    await send({"type": "http.response.body", "body": b""})
