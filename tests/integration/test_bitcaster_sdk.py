"""The existing client, `bitcaster-sdk`, against a real `clarion serve` (SPEC §3.2): every call it makes.

The client (sync `Client`, and `AsyncClient` which makes the same requests from a
background thread) is configured with the endpoint URL
`http://<token>@<host>/api/o/<org>/` and sends `Authorization: Key <token>`.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bitcaster_sdk
import httpx
import pytest
from bitcaster_sdk.async_client import AsyncClient
from bitcaster_sdk.client import Client
from bitcaster_sdk.exceptions import (
    AuthenticationError,
    AuthorizationError,
    EventNotFoundError,
    ValidationError,
)
from membership_support import MEMBERSHIP_CATALOG
from served_clarion import Server, clarion_server, seed_database


def endpoint(server: Server, token: str, org: str = "acme") -> str:
    host = server.url.removeprefix("http://")
    return f"http://{token}@{host}/api/o/{org}/"


def stored_occurrence(server: Server, token: str, occurrence: str) -> dict[str, Any]:
    """The occurrence as Clarion stored it, read back over the observability API."""
    response = httpx.get(
        f"{server.url}/api/o/acme/p/web/a/shop/occurrences/{occurrence}/", headers={"Authorization": f"Key {token}"}
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return {field: detail[field] for field in ("event", "context", "options", "correlation_id")}


@pytest.fixture
def sdk_logging_quiet() -> Iterator[None]:
    """The client logs every failure with `logger.exception`; keep expected failures out of the output."""
    import logging

    logger = logging.getLogger("bitcaster_sdk")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


async def test_read_calls(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    async with clarion_server(tmp_path, database_url) as server:
        client = Client(endpoint(server, tokens["acme/org-all"]))
        assert client.ping() == {"token": "org-all"}
        events = client.list_events("web", "shop")
        assert {"order-paid", "refund"} <= {event["slug"] for event in events}
        assert all({"name", "slug", "active", "locked", "description"} <= set(event) for event in events)
        users = client.list_users()
        assert [user["username"] for user in users] == ["alice", "bob"]
        assert all({"username", "email", "is_active", "locked"} <= set(user) for user in users)
        projects = client.list_projects()
        assert {"web", "legacy", "mobile"} <= {project["slug"] for project in projects}
        assert {"shop", "blog"} <= {app["slug"] for app in client.list_applications("web")}
        lists = client.list_distribution_lists("web")
        ops = next(row for row in lists if row["name"] == "ops")
        members = client.list_members("web", str(ops["id"]))
        assert [(m["user"], m["address"], m["channel"]) for m in members] == [("alice", "alice@example.com", "email")]
        assert all({"id", "address", "user", "channel"} <= set(m) for m in members)


async def test_module_level_api_and_triggers(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    async with clarion_server(tmp_path, database_url) as server:
        client = bitcaster_sdk.init(endpoint(server, tokens["acme/shop-app"]))
        assert bitcaster_sdk.ping() == {"token": "shop-app"}
        assert "order-paid" in {event["slug"] for event in bitcaster_sdk.list_events("web", "shop")}
        assert [user["username"] for user in bitcaster_sdk.list_users()] == ["alice", "bob"]
        assert [project["slug"] for project in bitcaster_sdk.list_projects()] == ["web"]
        assert [app["slug"] for app in bitcaster_sdk.list_applications("web")] == ["shop"]
        # the client's trigger() is deprecated, and trigger_event() calls it, so both warn
        with pytest.warns(DeprecationWarning):
            triggered = bitcaster_sdk.trigger("web", "shop", "order-paid", {"order_id": "1"})
        assert set(triggered) == {"occurrence"}
        bitcaster_sdk.set_domain("web", "shop")
        with pytest.warns(DeprecationWarning):
            again = bitcaster_sdk.trigger_event("order-paid", {"order_id": "2"}, {"channels": ["email"]})
        assert again["occurrence"] > triggered["occurrence"]
        with pytest.warns(DeprecationWarning):
            with_cid = client.trigger_event("order-paid", {"order_id": "3"}, cid="corr-1")
        assert "occurrence" in with_cid
        with pytest.warns(DeprecationWarning):
            paused = client.trigger("web", "shop", "refund")
        assert paused.get("paused") is True
        # what each call stored: its context, its options (the client always sends both) and its cid
        reader = tokens["acme/org-all"]
        assert [stored_occurrence(server, reader, answer["occurrence"]) for answer in (triggered, again, with_cid, paused)] == [
            {"event": "order-paid", "context": {"order_id": "1"}, "options": {}, "correlation_id": None},
            {"event": "order-paid", "context": {"order_id": "2"}, "options": {"channels": ["email"]}, "correlation_id": None},
            {"event": "order-paid", "context": {"order_id": "3"}, "options": {}, "correlation_id": "corr-1"},
            {"event": "refund", "context": {}, "options": {}, "correlation_id": None},
        ]


async def test_user_calls(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    async with clarion_server(tmp_path, database_url) as server:
        client = Client(endpoint(server, tokens["acme/web-members"]))
        created = client.add_user("dora@example.com", "Dora", "Explorer", {"prefs": {"lang": "es"}})
        assert created["username"] == "dora@example.com" and created["first_name"] == "Dora"
        assert client.add_user("eve@example.com", None, None)["custom_fields"] == {}  # custom=None
        merged = client.update_user("dora@example.com", "Dora", "E.", {"prefs": {"tz": "UTC"}}, mode="merge")
        assert merged["last_name"] == "E." and merged["custom_fields"] == {"prefs": {"lang": "es", "tz": "UTC"}}
        ignored = client.update_user("dora@example.com", "Dora", "E.", {"x": 1})  # default mode: ignore
        assert ignored["custom_fields"] == {"prefs": {"lang": "es", "tz": "UTC"}}
        for mode, expected in [
            ("override", {"prefs": {"tz": "CET"}}),
            ("remove", {}),
            ("rewrite", {"a": {"b": 1}}),
        ]:
            given = {"prefs": {"tz": "CET"}} if mode != "rewrite" else {"a": {"b": 1}}
            assert client.update_user("dora@example.com", "D", "E", given, mode=mode)["custom_fields"] == expected
        # a user created with a username is found by e-mail too
        assert client.update_user("alice@example.com", "Alice", "L", None)["username"] == "alice"
        assert {"dora@example.com", "eve@example.com"} <= {u["username"] for u in client.list_users()}


async def test_registration_calls(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    async with clarion_server(tmp_path, database_url) as server:
        client = Client(endpoint(server, tokens["acme/shop-members"]))
        addresses = [
            {"value": "fred@example.com", "name": "email", "assign_to_preferred_channel": True},
            {"value": "https://hooks.example.com/fred", "assign_to_preferred_channel": True},
        ]
        registered = client.register_user(
            "web", "shop", "fred", first_name="Fred", email="fred@example.com",
            custom_fields={"plan": "free"}, addresses=addresses, distribution_list="shop-news",
        )
        assert set(registered) >= {"user", "created", "membership", "addresses", "assignments", "distribution_list"}
        assert registered["created"] is True and registered["membership"]["custom_fields"] == {"plan": "free"}
        assert sorted(a["channel"] for a in registered["assignments"]) == ["email", "webhook"]
        again = client.register_user("web", "shop", "fred", custom_fields={"seen": 1}, addresses=addresses,
                                     distribution_list="shop-news")
        assert again["created"] is False and again["membership"]["custom_fields"] == {"plan": "free", "seen": 1}
        minimal = client.register_user("web", "shop", "alice")
        assert minimal["created"] is False and minimal["distribution_list"] is None
        news = registered["distribution_list"]["id"]
        assert len(client.list_members("web", str(news))) == 2
        assert [row["name"] for row in client.list_distribution_lists("web")] == ["shop-fans", "shop-news"]
        # `deleted` counts the list memberships removed, as in the source system: fred's email and webhook
        assert client.unregister_user("web", "shop", "fred")["deleted"] == 2
        assert client.unregister_user("web", "shop", "fred")["deleted"] == 0
        assert client.list_members("web", str(news)) == []


async def test_errors_map_to_the_clients_exceptions(
    tmp_path: Path, database_url: str, sdk_logging_quiet: None
) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    async with clarion_server(tmp_path, database_url) as server:
        with pytest.raises(AuthenticationError):
            Client(endpoint(server, "clk_not-a-key")).list_users()
        with pytest.raises(AuthorizationError):
            Client(endpoint(server, tokens["acme/lacks-user:read"])).list_users()
        with pytest.raises(AuthorizationError):
            Client(endpoint(server, tokens["acme/shop-members"])).register_user("web", "blog", "alice")
        client = Client(endpoint(server, tokens["acme/org-members"]))
        with pytest.raises(EventNotFoundError):
            client.update_user("nobody@example.com", "N", "B")
        with pytest.raises(EventNotFoundError):
            client.unregister_user("web", "shop", "nobody")
        with pytest.raises(ValidationError, match="_mode"):
            client.update_user("alice", "A", "L", {"a": 1}, mode="bogus")
        with pytest.raises(ValidationError, match="username"):
            client.register_user("web", "shop", "")
        with pytest.raises(ConnectionError):  # 409 is "another status" for the client
            client.add_user("alice@example.com", "A", "L")
            client.add_user("alice@example.com", "A", "L")


async def test_async_client(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    async with clarion_server(tmp_path, database_url) as server:
        client = AsyncClient(endpoint(server, tokens["acme/org-all"]))
        try:
            assert client.ping().result(10) == {"token": "org-all"}
            assert "order-paid" in {e["slug"] for e in client.list_events("web", "shop").result(10)}
            assert [u["username"] for u in client.list_users().result(10)] == ["alice", "bob"]
            assert "web" in {p["slug"] for p in client.list_projects().result(10)}
            assert "shop" in {a["slug"] for a in client.list_applications("web").result(10)}
            lists = client.list_distribution_lists("web").result(10)
            ops = next(row["id"] for row in lists if row["name"] == "ops")
            assert len(client.list_members("web", str(ops)).result(10)) == 1
            assert client.add_user("gil@example.com", "Gil", "G", {"a": {"b": 1}}).result(10)["username"] == "gil@example.com"
            updated = client.update_user("gil@example.com", "Gil", "G", {"a": {"c": 2}}, mode="merge").result(10)
            assert updated["custom_fields"] == {"a": {"b": 1, "c": 2}}
            registered = client.register_user("web", "shop", "gil@example.com", distribution_list="shop-fans").result(10)
            assert registered["created"] is False
            unregistered = client.unregister_user("web", "shop", "gil@example.com").result(10)
            assert unregistered == {"deleted": 0, "memberships": 1, "subscriptions": 0}  # gil is in no list
            with pytest.warns(DeprecationWarning):
                future = client.trigger("web", "shop", "order-paid", {"k": "v"}, cid="c-1")
            occurrence = future.result(10)["occurrence"]
            assert stored_occurrence(server, tokens["acme/org-all"], occurrence) == {
                "event": "order-paid", "context": {"k": "v"}, "options": {}, "correlation_id": "c-1"
            }
        finally:
            client.transport.kill()
