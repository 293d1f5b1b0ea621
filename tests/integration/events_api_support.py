"""The API test bed: a catalog with keys of every scope, and the app served in the test's own loop.

`api` runs the real app (lifespan included) in the test's event loop and talks to
it over HTTP through `httpx.ASGITransport`, so tests can fire truly concurrent
requests and read or change the database directly (the engine is bound to this
loop). Import it into a test module: `from events_api_support import api`.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from clarion.http.app import create_app
from clarion.auth.grants import ALL_GRANTS, Grant
from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import decode_catalog
from clarion.settings import Settings
from clarion_test_support import BASE_CONFIG

CHANNEL_KINDS = {"email": frozenset({"email"}), "webhook": frozenset({"url"}), "pager": frozenset({"url"})}

# BASE_CONFIG without the embedded dispatcher (only the write path is under test) and with a
# configured but disabled channel.
API_CONFIG = (
    BASE_CONFIG.replace("[dispatch]\n", "[dispatch]\nembedded = false\n", 1)
    + """
[channels.pager]
type = "webhook"
enabled = false
"""
)

ENDPOINT_GRANTS = {
    "list_events": Grant.EVENT_LIST,
    "trigger": Grant.EVENT_TRIGGER,
    "read_org": Grant.ORGANIZATION_READ,
    "ping": Grant.SYSTEM_PING,
}
EVERYDAY = ["event:list", "event:trigger", "organization:read", "system:ping", "user:read"]


def _event(slug: str, **flags: bool) -> dict[str, Any]:
    return {"slug": slug, "name": slug.replace("-", " ").capitalize(), "description": f"the {slug} event", **flags}


def _key(name: str, grants: list[str], project: str | None = None, application: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "grants": grants, "project": project, "application": application, **extra}


CATALOG: dict[str, Any] = {
    "organizations": [
        {
            "slug": "acme",
            "name": "Acme",
            "projects": [
                {
                    "slug": "web",
                    "name": "Web",
                    "applications": [
                        {
                            "slug": "shop",
                            "name": "Shop",
                            "events": [
                                _event("order-paid"),
                                _event("refund", paused=True),
                                _event("frozen", locked=True),
                                _event("retired", active=False),
                            ],
                        },
                        {"slug": "blog", "name": "Blog", "paused": True, "events": [_event("post-published")]},
                        {"slug": "attic", "name": "Attic", "active": False, "events": [_event("dusted")]},
                    ],
                },
                {
                    "slug": "legacy",
                    "name": "Legacy",
                    "locked": True,
                    "applications": [{"slug": "old", "name": "Old", "events": [_event("ping")]}],
                },
                {
                    "slug": "mobile",
                    "name": "Mobile",
                    "applications": [{"slug": "ios", "name": "iOS", "events": [_event("launched")]}],
                },
            ],
            "api_keys": [
                _key("org-all", ["full_access"]),
                _key("org-everyday", EVERYDAY),
                _key("web-project", EVERYDAY, "web"),
                _key("shop-app", EVERYDAY, "web", "shop"),
                _key("blog-app", EVERYDAY, "web", "blog"),
                _key("expired", ["full_access"], expires_at="2001-01-01T00:00:00Z"),
                _key("inactive", ["full_access"], active=False),
                *[
                    _key(f"without-{grant.value}", sorted(ALL_GRANTS - {grant.value, "full_access"}))
                    for grant in ENDPOINT_GRANTS.values()
                ],
            ],
        },
        {
            "slug": "globex",
            "name": "Globex",
            "projects": [
                {
                    "slug": "hq",
                    "name": "HQ",
                    "applications": [{"slug": "portal", "name": "Portal", "events": [_event("login")]}],
                }
            ],
            "api_keys": [_key("globex-all", ["full_access"])],
        },
    ]
}

SHOP = "/api/o/acme/p/web/a/shop"
ORDER_PAID = f"{SHOP}/e/order-paid/trigger/"


@dataclass
class Api:
    """An HTTP client on the app, the tokens of the catalog's keys by name, and the app itself."""

    client: httpx.AsyncClient
    tokens: dict[str, str]
    app: Litestar

    def key(self, name: str) -> dict[str, str]:
        """Headers authenticating as key `name` (e.g. "shop-app", "globex-all")."""
        org = "globex" if name.startswith("globex") else "acme"
        return {"Authorization": f"Key {self.tokens[f'{org}/{name}']}"}

    async def get(self, path: str, key: str = "org-all", **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers={**self.key(key), **kwargs.pop("headers", {})}, **kwargs)

    async def post(self, path: str, key: str = "org-all", **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, headers={**self.key(key), **kwargs.pop("headers", {})}, **kwargs)


async def seed(catalog: dict[str, Any] = CATALOG) -> dict[str, str]:
    """Apply `catalog` on the bound engine; the tokens of the keys it created."""
    return (await apply_catalog(decode_catalog(catalog), CHANNEL_KINDS)).api_keys


@contextlib.asynccontextmanager
async def app_running(app: Litestar) -> AsyncIterator[Litestar]:
    """The app's lifespan, held by a task of its own (it must enter and exit in the same task)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    holder = asyncio.create_task(hold())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({holder, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiter.cancel()
        await holder  # raises the startup failure
    try:
        yield app
    finally:
        stop.set()
        await holder


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(API_CONFIG)


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[Api]:
    """The app in this loop over `httpx.ASGITransport`, with `CATALOG` applied."""
    app = create_app(api_settings)
    async with app_running(app):
        tokens = await seed()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as client:
            yield Api(client, tokens, app)
