"""The operator's console at /admin/ over HTTP: login, CSRF, rate limit, and the API's rules on its edits.

(The same console in a real browser: test_console_browser.py.)
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from clarion.auth.tokens import hash_token
from clarion.events.tables import Event
from clarion.http.app import create_app
from clarion.occurrences.tables import Occurrence
from clarion.operators.services import create_operator, delete_operator, reset_operator
from clarion.settings import Settings
from console_support import CONSOLE_CONFIG, OPERATOR, PASSWORD, console_login, csrf_header
from events_api_support import API_CONFIG, ORDER_PAID, SHOP, Api, api, app_running  # noqa: F401  (api: the fixture)

CACHE_BOUND_S = 1.05  # revoked keys and changed events take effect within one second (SPEC: the 1 s caches)
EVENT = f"{SHOP}/e/order-paid/"


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(CONSOLE_CONFIG)


@pytest.fixture
async def console(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app, logged into the console as an operator."""
    await create_operator(OPERATOR, PASSWORD)
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as client:
        assert (await console_login(client)).status_code == 200
        yield client


async def _event_id(slug: str = "order-paid") -> int:
    row = await Event.select(Event.id).where(Event.slug == slug).first()
    assert row is not None
    return int(row["id"])


async def test_nothing_exists_under_admin_when_disabled(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(API_CONFIG))
    async with app_running(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c.test") as client:
            for path in ("/admin", "/admin/", "/admin/public/login/", "/admin/api/tables/"):
                assert (await client.get(path)).status_code == 404, path


async def test_admin_redirects_to_the_console_page(api: Api) -> None:
    response = await api.client.get("/admin")
    assert response.status_code == 308
    assert response.headers["location"] == "/admin/"
    page = await api.client.get("/admin/")
    assert page.status_code == 200
    assert '<div id="app">' in page.text


async def test_login_needs_the_csrf_token_and_the_right_password(api: Api) -> None:
    await create_operator(OPERATOR, PASSWORD)
    client = api.client
    assert (await client.get("/admin/api/user/")).status_code == 401
    await client.get("/admin/")
    without_csrf = await client.post("/admin/public/login/", json={"username": OPERATOR, "password": PASSWORD})
    assert without_csrf.status_code == 403
    assert (await console_login(client, password="wrong-password")).status_code == 401
    assert (await console_login(client, username="nobody")).status_code == 401
    response = await console_login(client)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    user = await client.get("/admin/api/user/")
    assert user.status_code == 200 and user.json()["username"] == OPERATOR


async def test_session_cookie_is_secure_when_configured(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(CONSOLE_CONFIG.replace("[admin]\n", "[admin]\nsecure_cookies = true\n")))
    async with app_running(app):
        await create_operator(OPERATOR, PASSWORD)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c.test") as client:
            response = await console_login(client)
            assert response.status_code == 200
            assert "Secure" in response.headers["set-cookie"]


async def test_login_attempts_are_rate_limited(api: Api) -> None:
    await create_operator(OPERATOR, PASSWORD)
    statuses = [(await console_login(api.client, password="guess")).status_code for _ in range(6)]
    assert statuses == [401] * 6
    # The configured 6 attempts are used up: even the right password waits for the window to pass.
    assert (await console_login(api.client)).status_code == 429


async def test_deleted_operator_is_logged_out(console: httpx.AsyncClient) -> None:
    assert (await console.get("/admin/api/user/")).status_code == 200
    await delete_operator(OPERATOR)
    assert (await console.get("/admin/api/user/")).status_code == 401


async def test_locking_an_event_refuses_its_trigger_within_a_second(api: Api, console: httpx.AsyncClient) -> None:
    assert (await api.post(ORDER_PAID, json={"context": {}})).status_code == 201
    event = await _event_id()
    response = await console.patch(
        f"/admin/api/tables/event/{event}/", json={"locked": True}, headers=csrf_header(console)
    )
    assert response.status_code == 200, response.text
    await asyncio.sleep(CACHE_BOUND_S)
    refused = await api.post(ORDER_PAID, json={"context": {}})
    assert refused.status_code == 400
    assert "locked" in refused.json()["detail"]


async def test_event_edits_are_refused_with_the_api_message(api: Api, console: httpx.AsyncClient) -> None:
    through_api = await api.client.patch(EVENT, json={"name": ""}, headers=api.key("org-all"))
    assert through_api.status_code == 400
    event = await _event_id()
    response = await console.patch(f"/admin/api/tables/event/{event}/", json={"name": ""}, headers=csrf_header(console))
    assert response.status_code == 400
    assert response.json()["detail"] == through_api.json()["detail"]
    slug = await console.patch(f"/admin/api/tables/event/{event}/", json={"slug": "renamed"}, headers=csrf_header(console))
    assert slug.status_code == 400 and slug.json()["detail"] == "slug: cannot be changed"
    created = await console.post(
        "/admin/api/tables/event/",
        json={"application": 1, "slug": "Not A Slug", "name": "x", "created": "2026-12-08T00:00:00Z"},
        headers=csrf_header(console),
    )
    assert created.status_code == 400
    assert created.json()["detail"].startswith("slug: ")
    assert not await Event.exists().where(Event.slug == "Not A Slug")


async def test_invalid_template_is_refused_with_the_api_message(api: Api, console: httpx.AsyncClient) -> None:
    broken = "Order {{ order_id "
    through_api = await api.client.put(
        f"{EVENT}templates/email/", json={"subject": broken}, headers=api.key("org-all")
    )
    assert through_api.status_code == 400
    response = await console.post(
        "/admin/api/tables/template/",
        json={"event": await _event_id(), "channel": "email", "subject": broken, "created": "2026-12-08T00:00:00Z"},
        headers=csrf_header(console),
    )
    assert response.status_code == 400
    assert response.json()["detail"] == through_api.json()["detail"]
    unknown = await console.post(
        "/admin/api/tables/template/",
        json={"event": await _event_id(), "channel": "fax", "subject": "hi", "created": "2026-12-08T00:00:00Z"},
        headers=csrf_header(console),
    )
    assert unknown.status_code == 400 and unknown.json()["detail"] == "channel: channel 'fax' is not configured"


async def test_api_key_hash_is_never_shown_nor_written_and_revoking_is_a_toggle(
    api: Api, console: httpx.AsyncClient
) -> None:
    stored_hash = hash_token(api.tokens["acme/shop-app"])
    listing = await console.get("/admin/api/tables/api_key/?__page_size=100")
    rows = listing.json()["rows"]
    assert rows and all(row.get("token_hash") is None for row in rows)
    key = next(row for row in rows if row["name"] == "shop-app")
    single = await console.get(f"/admin/api/tables/api_key/{key['id']}/")
    assert single.json()["name"] == "shop-app" and single.json().get("token_hash") is None
    assert stored_hash not in listing.text + single.text
    path = f"/admin/api/tables/api_key/{key['id']}/"
    written = await console.patch(path, json={"token_hash": "0" * 64}, headers=csrf_header(console))
    assert written.status_code == 400 and written.json()["detail"] == "token_hash: cannot be changed"
    regranted = await console.patch(path, json={"grants": '["full_access"]'}, headers=csrf_header(console))
    assert regranted.status_code == 400 and regranted.json()["detail"] == "grants: cannot be changed"
    minted = await console.post("/admin/api/tables/api_key/", json={"name": "x"}, headers=csrf_header(console))
    assert minted.status_code == 405

    assert (await api.post(ORDER_PAID, key="shop-app", json={"context": {}})).status_code == 201
    revoked = await console.patch(path, json={"active": False}, headers=csrf_header(console))
    assert revoked.status_code == 200, revoked.text
    await asyncio.sleep(CACHE_BOUND_S)
    assert (await api.post(ORDER_PAID, key="shop-app", json={"context": {}})).status_code == 401
    assert (await console.patch(path, json={"active": True}, headers=csrf_header(console))).status_code == 200
    await asyncio.sleep(CACHE_BOUND_S)
    assert (await api.post(ORDER_PAID, key="shop-app", json={"context": {}})).status_code == 201


async def test_occurrences_and_deliveries_are_read_only(api: Api, console: httpx.AsyncClient) -> None:
    occurrence = (await api.post(ORDER_PAID, json={"context": {"order_id": "A-1"}})).json()["occurrence"]
    path = f"/admin/api/tables/occurrence/{occurrence}/"
    assert (await console.get(path)).json()["status"] == "pending"
    headers = csrf_header(console)
    assert (await console.patch(path, json={"status": "done"}, headers=headers)).status_code == 405
    assert (await console.delete(path, headers=headers)).status_code == 405
    assert (await console.delete("/admin/api/tables/occurrence/", headers=headers)).status_code == 405
    assert (await console.post("/admin/api/tables/delivery/", json={}, headers=headers)).status_code == 405
    row = await Occurrence.select(Occurrence.status).where(Occurrence.id == occurrence).first()
    assert row == {"status": "pending"}


async def _form(console: httpx.AsyncClient, slug: str, **fields: object) -> httpx.Response:
    return await console.post(f"/admin/api/forms/{slug}/", json=fields, headers=csrf_header(console))


async def test_trigger_form_stores_an_occurrence_and_refuses_as_the_api_does(
    api: Api, console: httpx.AsyncClient
) -> None:
    response = await _form(console, "trigger-an-event", event="acme/web/shop/order-paid", context='{"order_id": "A-7"}')
    assert response.status_code == 200, response.text
    message = response.json()["custom_form_success"]
    stored = await Occurrence.select(Occurrence.id, Occurrence.context).output(load_json=True)
    assert [row["context"] for row in stored] == [{"order_id": "A-7"}]
    assert f"#/occurrence/{stored[0]['id']}/" in message

    for event, context in (("acme/web/shop/frozen", "{}"), ("acme/web/shop/nope", "{}"), ("acme/web/shop/order-paid", "[1]")):
        through_api = await api.post(f"{SHOP}/e/{event.rsplit('/', 1)[1]}/trigger/", content=f'{{"context": {context}}}')
        refused = await _form(console, "trigger-an-event", event=event, context=context)
        assert refused.status_code == 422
        assert refused.json()["custom_form_error"] == through_api.json()["detail"]
    bad_json = await _form(console, "trigger-an-event", event="acme/web/shop/order-paid", context="{nope")
    assert bad_json.json()["custom_form_error"] == "context: not valid JSON"
    bad_path = await _form(console, "trigger-an-event", event="acme/order-paid")
    assert bad_path.json()["custom_form_error"].startswith("event: expected organization/project/application/event")
    assert len(await Occurrence.select(Occurrence.id)) == 1


async def test_preview_form_stores_nothing(api: Api, console: httpx.AsyncClient) -> None:
    response = await _form(console, "preview-an-event", event="acme/web/shop/order-paid", context="{}")
    assert response.status_code == 200, response.text
    assert "message(s) for order-paid" in response.json()["custom_form_success"]
    assert await Occurrence.count() == 0


async def test_mint_key_form_shows_a_working_token_once(api: Api, console: httpx.AsyncClient) -> None:
    response = await _form(
        console, "mint-an-api-key", organization="acme", name="from-console", grants="event:trigger, occurrence:read",
        project="web", application="shop",
    )
    assert response.status_code == 200, response.text
    token = response.json()["custom_form_success"].rsplit(" ", 1)[1]
    triggered = await api.client.post(ORDER_PAID, json={"context": {}}, headers={"Authorization": f"Key {token}"})
    assert triggered.status_code == 201
    listing = await console.get("/admin/api/tables/api_key/", params={"name": "from-console"})
    listed = listing.json()["rows"]
    assert len(listed) == 1 and listed[0]["token_hash"] is None

    through_api = await api.post("/api/o/acme/keys/", json={"name": "other", "grants": ["no:such"]})
    refused = await _form(console, "mint-an-api-key", organization="acme", name="other", grants="no:such")
    assert refused.status_code == 422
    assert refused.json()["custom_form_error"] == through_api.json()["detail"]
    again = await _form(console, "mint-an-api-key", organization="acme", name="from-console", grants="event:trigger")
    assert again.json()["custom_form_error"] == "name: a key named 'from-console' already exists"
    unknown = await _form(console, "mint-an-api-key", organization="nope", name="x", grants="event:trigger")
    assert unknown.json()["custom_form_error"] == "organization: unknown organization 'nope'"


async def test_resetting_an_operator_replaces_the_password(api: Api) -> None:
    await reset_operator("dev", "first-password")  # creates
    await reset_operator("dev", "second-password")  # replaces
    assert (await console_login(api.client, "dev", "first-password")).status_code == 401
    assert (await console_login(api.client, "dev", "second-password")).status_code == 200


async def test_dashboard_is_behind_the_login_and_counts_the_queue(api: Api, console: httpx.AsyncClient) -> None:
    anonymous = await api.client.get("/admin/dashboard/")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/admin/#/login"
    assert (await api.post(ORDER_PAID, json={"context": {}})).status_code == 201
    page = await console.get("/admin/dashboard/")
    assert page.status_code == 200
    assert "<tr><td>occurrence</td><td>1</td>" in page.text
    assert "<script" not in page.text and "http://" not in page.text.replace('xmlns="http://www.w3.org/2000/svg"', "")


async def test_assignment_edits_check_the_channel_and_its_secret_as_the_api_does(
    api: Api, console: httpx.AsyncClient
) -> None:
    from clarion.users.tables import Address, User

    organization = (await Event.select(Event.application.project.organization.id.as_alias("org")).first())["org"]
    user = (await User.insert(User(organization=organization, username="ann")).returning(User.id))[0]["id"]
    address = (
        await Address.insert(Address(user=user, name="hook", value="https://example.com/h", kind="url")).returning(Address.id)
    )[0]["id"]
    for channel, secret in (("webhook", "not-a-secret"), ("email", None), ("fax", None)):
        body = {"address": "hook", "channel": channel, **({"secret": secret} if secret else {})}
        through_api = await api.post("/api/o/acme/u/ann/assignments/", json=body)
        assert through_api.status_code == 400, through_api.text
        refused = await console.post(
            "/admin/api/tables/assignment/",
            json={"address": address, "channel": channel, "secret": secret, "created": "2026-12-08T00:00:00Z"},
            headers=csrf_header(console),
        )
        assert refused.status_code == 400
        assert refused.json()["detail"] == through_api.json()["detail"]
    accepted = await console.post(
        "/admin/api/tables/assignment/",
        json={"address": address, "channel": "webhook", "active": True, "created": "2026-12-08T00:00:00Z"},
        headers=csrf_header(console),
    )
    assert accepted.status_code == 201, accepted.text
