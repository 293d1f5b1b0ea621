"""Keys: authentication (401), grants and scope (403) decided before any lookup (SPEC §3, §3.4)."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from clarion_test_support import CACHE_EXPIRY_S
from events_api_support import ORDER_PAID, SHOP, Api, api, api_settings, app_running, seed  # noqa: F401

from clarion.http.app import create_app
from clarion.http.guards import check_scope
from clarion.auth.services import ApiPrincipal
from clarion.auth.tables import ApiKey
from clarion.errors import PermissionDenied
from clarion.occurrences.tables import Occurrence
from clarion.settings import Settings
from clarion_test_support import problem

LIST_SHOP = ("GET", f"{SHOP}/e/")
TRIGGER_SHOP = ("POST", ORDER_PAID)
LIST_BLOG = ("GET", "/api/o/acme/p/web/a/blog/e/")
TRIGGER_IOS = ("POST", "/api/o/acme/p/mobile/a/ios/e/launched/trigger/")
READ_ORG = ("GET", "/api/o/acme/")
LIST_PROJECTS = ("GET", "/api/o/acme/p/")
READ_WEB = ("GET", "/api/o/acme/p/web/")
READ_MOBILE = ("GET", "/api/o/acme/p/mobile/")
LIST_WEB_APPS = ("GET", "/api/o/acme/p/web/a/")
LIST_MOBILE_APPS = ("GET", "/api/o/acme/p/mobile/a/")
GHOST_PROJECT = ("GET", "/api/o/acme/p/ghost/a/shop/e/")
GHOST_APP = ("GET", "/api/o/acme/p/web/a/ghost/e/")
GHOST_ORG = ("GET", "/api/o/ghost/p/web/a/shop/e/")


def out(level: str, slug: str) -> tuple[int, str]:
    """A 403 for a path outside the key's scope, naming the first level it does not cover."""
    return 403, f"key is not valid for {level} {slug!r}"


OK, CREATED = (200, ""), (201, "")
UNKNOWN_PROJECT, UNKNOWN_APP = (404, "unknown project 'ghost'"), (404, "unknown application 'ghost'")

# key → (method, path) → (status, detail). Out of scope is 403 whether or not the slugs exist.
SCOPE_MATRIX = {
    "org-everyday": {
        LIST_SHOP: OK, TRIGGER_SHOP: CREATED, LIST_BLOG: OK, TRIGGER_IOS: CREATED, READ_ORG: OK,
        LIST_PROJECTS: OK, READ_WEB: OK, READ_MOBILE: OK, LIST_WEB_APPS: OK, LIST_MOBILE_APPS: OK,
        GHOST_PROJECT: UNKNOWN_PROJECT, GHOST_APP: UNKNOWN_APP, GHOST_ORG: out("organization", "ghost"),
    },
    "web-project": {
        LIST_SHOP: OK, TRIGGER_SHOP: CREATED, LIST_BLOG: OK, TRIGGER_IOS: out("project", "mobile"), READ_ORG: OK,
        LIST_PROJECTS: OK, READ_WEB: OK, READ_MOBILE: out("project", "mobile"), LIST_WEB_APPS: OK,
        LIST_MOBILE_APPS: out("project", "mobile"),
        GHOST_PROJECT: out("project", "ghost"), GHOST_APP: UNKNOWN_APP, GHOST_ORG: out("organization", "ghost"),
    },
    "shop-app": {
        LIST_SHOP: OK, TRIGGER_SHOP: CREATED, LIST_BLOG: out("application", "blog"), TRIGGER_IOS: out("project", "mobile"),
        READ_ORG: OK, LIST_PROJECTS: OK, READ_WEB: OK, READ_MOBILE: out("project", "mobile"), LIST_WEB_APPS: OK,
        LIST_MOBILE_APPS: out("project", "mobile"),
        GHOST_PROJECT: out("project", "ghost"), GHOST_APP: out("application", "ghost"),
        GHOST_ORG: out("organization", "ghost"),
    },
    "globex-all": {
        path: out("organization", "ghost" if path == GHOST_ORG else "acme")
        for path in (LIST_SHOP, TRIGGER_SHOP, LIST_BLOG, TRIGGER_IOS, READ_ORG, LIST_PROJECTS, READ_WEB, READ_MOBILE,
                     LIST_WEB_APPS, LIST_MOBILE_APPS, GHOST_PROJECT, GHOST_APP, GHOST_ORG)
    },
}


async def call(api: Api, key: str, method: str, path: str) -> tuple[int, str]:
    if method == "POST":
        response = await api.post(path, key=key, json={})
    else:
        response = await api.get(path, key=key)
    return response.status_code, response.json().get("detail", "") if response.status_code >= 400 else ""


@pytest.mark.parametrize("key", list(SCOPE_MATRIX))
async def test_scope_matrix(api: Api, key: str) -> None:
    outcomes = {(method, path): await call(api, key, method, path) for method, path in SCOPE_MATRIX[key]}
    assert outcomes == SCOPE_MATRIX[key]
    # every accepted trigger is stored, for its event; a refused one stored nothing
    triggers = [path for (method, path), (status, _) in SCOPE_MATRIX[key].items() if status == 201]
    stored = await Occurrence.select(Occurrence.event.slug.as_alias("event")).order_by(Occurrence.id)
    assert [row["event"] for row in stored] == [path.rstrip("/").split("/")[-2] for path in triggers]


@pytest.mark.parametrize(
    ("key", "path", "detail"),
    [
        ("globex-all", f"{SHOP}/e/", "key is not valid for organization 'acme'"),
        ("shop-app", "/api/o/acme/p/mobile/a/ios/e/", "key is not valid for project 'mobile'"),
        ("shop-app", "/api/o/acme/p/web/a/blog/e/", "key is not valid for application 'blog'"),
        ("shop-app", "/api/o/acme/p/nonexistent/a/shop/e/", "key is not valid for project 'nonexistent'"),
        ("web-project", "/api/o/elsewhere/p/web/", "key is not valid for organization 'elsewhere'"),
    ],
)
async def test_403_scope_names_what_is_out_of_reach(api: Api, key: str, path: str, detail: str) -> None:
    response = await api.get(path, key=key)
    assert response.json() == problem(403, detail)


ENDPOINTS = {
    "list_events": ("GET", f"{SHOP}/e/", 200),
    "trigger": ("POST", ORDER_PAID, 201),
    "read_org": ("GET", "/api/o/acme/", 200),
    "list_projects": ("GET", "/api/o/acme/p/", 200),
    "read_project": ("GET", "/api/o/acme/p/web/", 200),
    "list_applications": ("GET", "/api/o/acme/p/web/a/", 200),
    "ping": ("GET", "/api/system/ping/", 200),
}
GRANT_OF = {
    "list_events": "event:list",
    "trigger": "event:trigger",
    "read_org": "organization:read",
    "list_projects": "organization:read",
    "read_project": "organization:read",
    "list_applications": "organization:read",
    "ping": "system:ping",
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_grant_matrix(api: Api, endpoint: str) -> None:
    method, path, success = ENDPOINTS[endpoint]
    grant = GRANT_OF[endpoint]
    assert await call(api, f"without-{grant}", method, path) == (403, f"key lacks the grant {grant}")
    assert (await call(api, "org-all", method, path))[0] == success  # full_access
    for other in set(GRANT_OF.values()) - {grant}:
        assert (await call(api, f"without-{other}", method, path))[0] == success


@pytest.mark.parametrize(("key", "detail"), [("expired", "API key has expired"), ("inactive", "API key is inactive")])
async def test_401_expired_and_inactive_keys(api: Api, key: str, detail: str) -> None:
    for method, path, _ in ENDPOINTS.values():
        assert await call(api, key, method, path) == (401, detail)


async def test_health_and_schema_need_no_key(api: Api) -> None:
    for path in ("/health/", "/ready/", "/schema/openapi.json"):
        assert (await api.client.get(path)).status_code == 200, path


@pytest.mark.parametrize(
    "change",
    [
        {ApiKey.active: False},
        {ApiKey.expires_at: datetime.now(timezone.utc) - timedelta(seconds=1)},
    ],
    ids=["revoked", "expired"],
)
async def test_a_changed_key_stops_working_within_a_second(api: Api, change: dict) -> None:  # type: ignore[type-arg]
    assert (await api.get(f"{SHOP}/e/", key="shop-app")).status_code == 200
    await ApiKey.update(change).where(ApiKey.name == "shop-app")
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the API caches ([cache] of BASE_CONFIG)
    assert (await api.get(f"{SHOP}/e/", key="shop-app")).status_code == 401


async def test_a_deleted_key_stops_working_within_a_second(api: Api) -> None:
    assert (await api.get("/api/system/ping/", key="shop-app")).status_code == 200
    await ApiKey.delete().where(ApiKey.name == "shop-app")
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the API caches ([cache] of BASE_CONFIG)
    response = await api.get("/api/system/ping/", key="shop-app")
    assert (response.status_code, response.json()) == (401, problem(401, "invalid API key"))


async def test_last_use_is_recorded_in_one_batch_not_per_request(api: Api) -> None:
    for _ in range(3):
        assert (await api.get(f"{SHOP}/e/", key="shop-app")).status_code == 200
    assert (await api.get("/api/system/ping/", key="web-project")).status_code == 200
    assert await ApiKey.count().where(ApiKey.last_used_at.is_not_null()) == 0
    await api.app.state.api_keys.flush_last_used()
    used = await ApiKey.select(ApiKey.name).where(ApiKey.last_used_at.is_not_null())
    assert sorted(row["name"] for row in used) == ["shop-app", "web-project"]


async def test_last_use_is_flushed_at_shutdown(api_settings: Settings) -> None:
    import httpx

    app = create_app(api_settings)
    async with app_running(app):
        tokens = await seed()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get("/api/system/ping/", headers={"Authorization": f"Key {tokens['acme/shop-app']}"})
            assert response.json() == {"token": "shop-app"}
    async with app_running(create_app(api_settings)):
        row = await ApiKey.select(ApiKey.last_used_at).where(ApiKey.name == "shop-app").first()
        assert row is not None and row["last_used_at"] is not None


# Scope rules for paths above a narrowed key (no such write endpoint in this part of the API yet).

PROJECT_KEY = ApiPrincipal(1, "p", 1, "acme", 2, "web", None, None, frozenset())
APP_KEY = ApiPrincipal(1, "a", 1, "acme", 2, "web", 3, "shop", frozenset())


@pytest.mark.no_db
@pytest.mark.parametrize(
    ("principal", "path", "changes", "parents", "allowed"),
    [
        (PROJECT_KEY, {"org": "acme"}, False, "read", True),
        (PROJECT_KEY, {"org": "acme"}, True, "read", False),
        (PROJECT_KEY, {"org": "acme", "username": "x"}, True, "write", True),
        (PROJECT_KEY, {"org": "acme"}, False, "none", False),
        (APP_KEY, {"org": "acme", "prj": "web"}, False, "read", True),
        (APP_KEY, {"org": "acme", "prj": "web"}, True, "read", False),
        (APP_KEY, {"org": "acme", "prj": "web"}, True, "write", True),
        (APP_KEY, {"org": "acme", "prj": "web", "app": "shop"}, True, "none", True),
        (APP_KEY, {"org": "acme", "prj": "mobile"}, False, "write", False),
        (APP_KEY, {}, True, "none", True),
    ],
)
def test_parents_of_a_narrowed_key(
    principal: ApiPrincipal, path: dict[str, str], changes: bool, parents: str, allowed: bool
) -> None:
    if allowed:
        check_scope(principal, path, changes=changes, parents=parents)  # type: ignore[arg-type]
    else:
        with pytest.raises(PermissionDenied):
            check_scope(principal, path, changes=changes, parents=parents)  # type: ignore[arg-type]


@pytest.mark.no_db
def test_unknown_grant_names_are_refused_at_definition() -> None:
    from clarion.http.guards import requires

    with pytest.raises(ValueError):
        requires("event:explode")
