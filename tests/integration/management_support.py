"""The management test bed: the events API catalog plus admin keys of every scope and some lists.

`mapi` is `events_api_support.api` with `MANAGEMENT_CATALOG` applied: the
same organizations, projects, applications, events and keys, plus

* admin keys `org-admin` (organization), `web-admin` (project web),
  `shop-admin` (application web/shop), `without-admin` (every grant but admin);
* distribution lists in project web: `staff` (unpinned), `shop-list` (pinned to
  shop), `blog-list` (pinned to blog); in project mobile: `mobile-list`.

`send(mapi, method, path, key, json=...)` sends any method as key `key`.
"""

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from clarion.http.app import create_app
from clarion.auth.grants import ALL_GRANTS
from clarion.distribution.tables import DistributionList
from clarion.settings import Settings
from events_api_support import API_CONFIG, CATALOG, EVERYDAY, Api, app_running, seed

ADMIN_EVERYDAY = [*EVERYDAY, "admin"]
WEB = "/api/o/acme/p/web"
SHOP = f"{WEB}/a/shop"
ORDER_PAID = f"{SHOP}/e/order-paid"


def _management_catalog() -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    acme = catalog["organizations"][0]
    acme["api_keys"] += [
        {"name": "org-admin", "grants": ADMIN_EVERYDAY},
        {"name": "web-admin", "grants": ADMIN_EVERYDAY, "project": "web"},
        {"name": "shop-admin", "grants": ADMIN_EVERYDAY, "project": "web", "application": "shop"},
        {"name": "without-admin", "grants": sorted(ALL_GRANTS - {"admin", "full_access"})},
    ]
    projects = {project["slug"]: project for project in acme["projects"]}
    projects["web"]["distribution_lists"] = [
        {"name": "staff"},
        {"name": "shop-list", "application": "shop"},
        {"name": "blog-list", "application": "blog"},
    ]
    projects["mobile"]["distribution_lists"] = [{"name": "mobile-list"}]
    return catalog


MANAGEMENT_CATALOG = _management_catalog()


@pytest.fixture
async def mapi(make_settings: Callable[..., Settings]) -> AsyncIterator[Api]:
    """The app in this loop over `httpx.ASGITransport`, with `MANAGEMENT_CATALOG` applied."""
    app: Litestar = create_app(make_settings(API_CONFIG))
    async with app_running(app):
        tokens = await seed(MANAGEMENT_CATALOG)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as client:
            yield Api(client, tokens, app)


async def send(
    api: Api, method: str, path: str, key: str | None = "org-all", json: Any = None, **kwargs: Any
) -> httpx.Response:
    """`method path` as key `key` (None: no Authorization header), with an optional JSON body."""
    headers = {**(api.key(key) if key else {}), **kwargs.pop("headers", {})}
    if json is not None:
        kwargs["json"] = json
    return await api.client.request(method, path, headers=headers, **kwargs)


async def list_ids() -> dict[str, int]:
    """The seeded distribution lists' ids by name."""
    return {row["name"]: row["id"] for row in await DistributionList.select(DistributionList.id, DistributionList.name)}
