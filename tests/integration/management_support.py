"""The management test bed: the events API catalog plus admin keys of every scope and some lists.

`mapi` is `events_api_support.api` with `MANAGEMENT_CATALOG` applied: the
same organizations, projects, applications, events and keys, plus

* admin keys `org-admin` (organization), `web-admin` (project web),
  `shop-admin` (application web/shop), `without-admin` (every grant but admin);
* distribution lists in project web: `staff` (unpinned), `shop-list` (pinned to
  shop), `blog-list` (pinned to blog); in project mobile: `mobile-list`.

`send(mapi, method, path, key, json=...)` sends any method as key `key`.

The grant-and-scope matrices check every answer in full: `refused(...)` for an
error (the exact `detail`, and nothing stored changed), `Listed` / `ReadBack` /
`Gone` for a success (what was written is read back over the API).
"""

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from clarion.http.app import create_app
from clarion.auth.grants import ALL_GRANTS
from clarion.distribution.tables import DistributionList
from clarion.settings import Settings
from clarion_test_support import stored_rows
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


@dataclass(frozen=True)
class Listed:
    """A write read back: the answer is the one item of the list at `path` with its key field."""

    path: str
    key: str = "slug"
    unlisted: tuple[str, ...] = ()  # fields of the answer a list never shows (a key's token)

    async def check(self, api: Api, answer: Any) -> None:
        items = (await send(api, "GET", self.path)).json()
        shown = {field: value for field, value in answer.items() if field not in self.unlisted}
        assert [item for item in items if item[self.key] == answer[self.key]] == [shown], items


@dataclass(frozen=True)
class ReadBack:
    """A write read back: `GET path` (`{id}` filled from the answer) answers the answer (plus `extra`)."""

    path: str
    extra: tuple[tuple[str, Any], ...] = ()

    async def check(self, api: Api, answer: Any) -> None:
        read = await send(api, "GET", self.path.format(id=answer.get("id")))
        assert read.status_code == 200, read.text
        assert read.json() == {**answer, **dict(self.extra)}


@dataclass(frozen=True)
class Gone:
    """A delete read back: `GET path` is now 404 with `detail`."""

    path: str
    detail: str

    async def check(self, api: Api, answer: Any) -> None:
        read = await send(api, "GET", self.path)
        assert (read.status_code, read.json()["detail"]) == (404, self.detail)


async def check_matrix_row(
    api: Api, key: str | None, method: str, path: str, body: Any, status: int, expected: Any
) -> None:
    """Send the row's request and check its answer in full: an error's exact `detail` and that nothing
    stored changed; a success's body (every field sent is in the answer) and the stored result, read back."""
    before = await stored_rows()
    response = await send(api, method, path, key, json=body)
    assert response.status_code == status, response.text
    if isinstance(expected, str):
        assert response.json()["detail"] == expected
        assert await stored_rows() == before, "a refused request changed what is stored"
        return
    answer = response.json() if response.content else None
    if isinstance(body, dict) and isinstance(answer, dict):
        assert {field: answer.get(field) for field in body} == body, answer
    await expected.check(api, answer)
