"""The membership API test bed: `CATALOG` plus users, lists, notifications and keys for their grants.

`members` is the `api` fixture of `events_api_support` (the real app in the test's
loop over `httpx.ASGITransport`) seeded with `MEMBERSHIP_CATALOG`. Import it:
`from membership_support import members`.
"""

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clarion.http.app import create_app
from clarion.auth.grants import ALL_GRANTS, Grant
from clarion.settings import Settings
from events_api_support import CATALOG, Api, app_running, seed

MEMBERSHIP_GRANTS = ["user:read", "user:write", "distributionlist:read", "distributionlist:write", "application:users"]
WITHOUT = (Grant.USER_READ, Grant.USER_WRITE, Grant.DISTRIBUTIONLIST_READ, Grant.DISTRIBUTIONLIST_WRITE, Grant.APPLICATION_USERS)

USERS: list[dict[str, Any]] = [
    {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
        "custom_fields": {"team": "ops", "prefs": {"lang": "en", "tz": "UTC"}},
        "addresses": [
            {"name": "email", "value": "alice@example.com"},
            {"name": "hook", "value": "https://hooks.example.com/alice"},
        ],
        "assignments": [{"address": "email", "channel": "email"}, {"address": "hook", "channel": "webhook"}],
    },
    {
        "username": "bob",
        "email": "bob@example.com",
        "addresses": [
            {"name": "email", "value": "bob@example.com"},
            {"name": "phone", "value": "+15555550100"},
        ],
        "assignments": [{"address": "email", "channel": "email"}],
    },
]


def _key(name: str, grants: list[str], project: str | None = None, application: str | None = None) -> dict[str, Any]:
    return {"name": name, "grants": grants, "project": project, "application": application}


def membership_catalog() -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    acme = catalog["organizations"][0]
    acme["users"] = USERS
    web = acme["projects"][0]
    web["distribution_lists"] = [
        {"name": "ops", "members": [{"user": "alice", "address": "email", "channel": "email"}]},
        {"name": "shop-fans", "application": "shop", "members": [{"user": "bob", "address": "email", "channel": "email"}]},
        {"name": "blog-readers", "application": "blog"},
    ]
    shop = web["applications"][0]
    shop["events"][0]["notifications"] = [{"name": "tell ops", "distribution_list": "ops"}]
    blog = web["applications"][1]
    blog["events"][0]["notifications"] = [{"name": "tell readers", "distribution_list": "blog-readers"}]
    acme["api_keys"] += [
        _key("org-members", MEMBERSHIP_GRANTS),
        _key("web-members", MEMBERSHIP_GRANTS, "web"),
        _key("shop-members", MEMBERSHIP_GRANTS, "web", "shop"),
        _key("readonly-members", ["user:read", "distributionlist:read"]),
        *[_key(f"lacks-{grant.value}", sorted(ALL_GRANTS - {grant.value, "full_access"})) for grant in WITHOUT],
    ]
    globex = catalog["organizations"][1]
    globex["users"] = [{"username": "alice", "email": "alice@globex.example"}]
    return catalog


MEMBERSHIP_CATALOG = membership_catalog()


class MembersApi(Api):
    """`Api` with every method; `request(method, path, key, **kwargs)`."""

    async def request(self, method: str, path: str, key: str = "org-all", **kwargs: Any) -> httpx.Response:
        headers = {**self.key(key), **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def put(self, path: str, key: str = "org-all", **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, key, **kwargs)

    async def patch(self, path: str, key: str = "org-all", **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, key, **kwargs)

    async def delete(self, path: str, key: str = "org-all", **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, key, **kwargs)

    async def list_id(self, name: str, prj: str = "web") -> int:
        rows = (await self.get(f"/api/o/acme/p/{prj}/d/")).json()
        return next(row["id"] for row in rows if row["name"] == name)

    async def notification_id(self, name: str) -> int:
        from clarion.notifications.tables import Notification

        row = await Notification.select(Notification.id).where(Notification.name == name).first()
        assert row is not None
        return row["id"]  # type: ignore[no-any-return]

    async def assignment_id(self, username: str, address: str, channel: str) -> int:
        rows = (await self.get(f"/api/o/acme/u/{username}/assignments/")).json()
        return next(row["id"] for row in rows if row["address"] == address and row["channel"] == channel)


@pytest.fixture
async def members(api_settings: Settings) -> AsyncIterator[MembersApi]:
    """The app in this loop over `httpx.ASGITransport`, with `MEMBERSHIP_CATALOG` applied."""
    app = create_app(api_settings)
    async with app_running(app):
        tokens = await seed(MEMBERSHIP_CATALOG)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as client:
            yield MembersApi(client, tokens, app)
