"""The Events API of the source document, status code by status code (SPEC §3.1, §4)."""

import asyncio
import json
from typing import Any

import pytest
from clarion_test_support import CACHE_EXPIRY_S
from events_api_support import ORDER_PAID, SHOP, Api, api, api_settings  # noqa: F401

from clarion.occurrences.tables import Occurrence
from clarion.events.tables import Event
from clarion_test_support import problem

EVENT_FIELDS = {"name", "slug", "description", "active", "locked", "paused"}


async def stored(occurrence_id: str) -> dict[str, Any]:
    row = await Occurrence.select().where(Occurrence.id == occurrence_id).output(load_json=True).first()
    assert row is not None, f"occurrence {occurrence_id} was answered 201 but is not stored"
    return row


# 200 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{SHOP}/e/", f"{SHOP}/e"])
async def test_200_lists_the_applications_events(api: Api, path: str) -> None:
    response = await api.get(path, key="shop-app")
    assert response.status_code == 200
    events = response.json()
    assert isinstance(events, list)
    assert [event["slug"] for event in events] == ["frozen", "order-paid", "refund", "retired"]
    assert all(set(event) == EVENT_FIELDS for event in events)
    by_slug = {event["slug"]: event for event in events}
    assert by_slug["order-paid"] == {
        "name": "Order paid",
        "slug": "order-paid",
        "description": "the order-paid event",
        "active": True,
        "locked": False,
        "paused": False,
    }
    assert by_slug["frozen"]["locked"] is True
    assert by_slug["retired"]["active"] is False
    assert by_slug["refund"]["paused"] is True
    assert "link" not in response.headers


async def test_200_list_is_paginated_with_link_headers(api: Api) -> None:
    seen: list[str] = []
    url: str | None = f"{SHOP}/e/?limit=3"
    pages = 0
    while url:
        response = await api.get(url, key="shop-app")
        assert response.status_code == 200
        page = response.json()
        assert len(page) <= 3
        seen += [event["slug"] for event in page]
        pages += 1
        url = response.links.get("next", {}).get("url")
        if url:
            assert response.headers["link"].endswith('>; rel="next"')
            assert "limit=3" in url and "cursor=" in url
    assert pages == 2
    assert seen == ["frozen", "order-paid", "refund", "retired"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=many"])
async def test_400_a_bad_limit_is_named(api: Api, query: str) -> None:
    response = await api.get(f"{SHOP}/e/?{query}", key="shop-app")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("limit: ")


async def test_400_a_bad_cursor_is_named(api: Api) -> None:
    response = await api.get(f"{SHOP}/e/?cursor=not-a-cursor", key="shop-app")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("cursor: ")


# 201 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [ORDER_PAID, ORDER_PAID.rstrip("/")])
async def test_201_stores_the_occurrence_before_answering(api: Api, path: str) -> None:
    body = {"context": {"order_id": 42, "items": ["a"]}, "options": {"channels": ["email"], "environs": ["prod"]}}
    response = await api.post(f"{path}?cid=checkout-7", key="shop-app", json=body)
    assert response.status_code == 201
    answer = response.json()
    assert set(answer) == {"occurrence"}
    assert len(answer["occurrence"]) == 26
    row = await stored(answer["occurrence"])
    event = await Event.select(Event.id).where(Event.slug == "order-paid").first()
    assert event is not None
    assert row["event"] == event["id"]
    assert row["context"] == {"order_id": 42, "items": ["a"]}
    assert row["options"] == {"channels": ["email"], "environs": ["prod"]}
    assert row["correlation_id"] == "checkout-7"
    assert row["status"] == "pending"
    assert row["created"] is not None and row["updated"] is not None


@pytest.mark.parametrize("content", [b"", b"{}", b"  \n"])
async def test_201_an_empty_body_means_an_empty_object(api: Api, content: bytes) -> None:
    response = await api.post(ORDER_PAID, key="shop-app", content=content)
    assert response.status_code == 201
    row = await stored(response.json()["occurrence"])
    assert (row["context"], row["options"], row["correlation_id"]) == ({}, {}, None)


async def test_201_ids_sort_by_creation(api: Api) -> None:
    ids = [(await api.post(ORDER_PAID, key="shop-app", json={})).json()["occurrence"] for _ in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5


async def test_201_filters_are_stored_as_given(api: Api) -> None:
    filters = {"include": [{"custom_fields.tier": "gold"}, {"email": "{{ who }}"}], "exclude": {"username": ["bob"]}}
    response = await api.post(ORDER_PAID, key="shop-app", json={"options": {"filters": filters, "limit_to": ["a@x.io"]}})
    assert response.status_code == 201
    row = await stored(response.json()["occurrence"])
    assert row["options"] == {"filters": filters, "limit_to": ["a@x.io"]}


async def test_201_a_disabled_but_configured_channel_is_accepted(api: Api) -> None:
    response = await api.post(ORDER_PAID, key="shop-app", json={"options": {"channels": ["pager", "webhook"]}})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "path",
    [f"{SHOP}/e/refund/trigger/", "/api/o/acme/p/web/a/blog/e/post-published/trigger/"],
    ids=["event-paused", "application-paused"],
)
async def test_201_paused_says_so_and_stays_pending(api: Api, path: str) -> None:
    response = await api.post(path, json={})
    assert response.status_code == 201
    assert response.json()["paused"] is True
    assert (await stored(response.json()["occurrence"]))["status"] == "pending"


# 400 ---------------------------------------------------------------------------------------------

BAD_BODIES = [
    (b"{not json", "body: not valid JSON"),
    (b"\xff\xfe", "body: not valid JSON"),
    (b"[1, 2]", "body: expected object, got array"),
    (b"null", "body: expected object, got null"),
    (b'"text"', "body: expected object, got str"),
    (b'{"context": [1]}', "context: expected object, got array"),
    (b'{"context": "x"}', "context: expected object, got str"),
    (b'{"colour": "red"}', "colour: unknown field"),
    (b'{"options": []}', "options: expected object, got array"),
    (b'{"options": {"colour": 1}}', "options.colour: unknown option"),
    (b'{"options": {"channels": "email"}}', "options.channels: expected array, got str"),
    (b'{"options": {"channels": [1]}}', "options.channels[0]: expected str, got int"),
    (b'{"options": {"limit_to": "a@x.io"}}', "options.limit_to: expected array, got str"),
    (b'{"options": {"environs": [true]}}', "options.environs[0]: expected str, got bool"),
    (b'{"options": {"filters": []}}', "options.filters: expected object, got array"),
    (b'{"options": {"filters": {"include": 3}}}', "options.filters.include: expected object | array, got int"),
    (b'{"options": {"filters": {"include": [3]}}}', "options.filters.include[0]: expected object, got int"),
    (b'{"options": {"filters": {"only": {}}}}', "options.filters.only: unknown field"),
    (b'{"options": {"filters": {"exclude": {"colour": "red"}}}}', "options.filters.exclude.colour: unknown user field"),
    (b'{"options": {"filters": {"include": [{"email": 1}, {"custom_fields.": 1}]}}}', "options.filters.include[1].custom_fields.: unknown user field"),
    (b'{"options": {"channels": ["email", "sms"]}}', "options.channels[1]: channel 'sms' is not configured"),
]


@pytest.mark.parametrize(("content", "detail"), BAD_BODIES, ids=[detail for _, detail in BAD_BODIES])
async def test_400_a_bad_body_names_the_field(api: Api, content: bytes, detail: str) -> None:
    response = await api.post(ORDER_PAID, key="shop-app", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(detail)
    assert await Occurrence.count() == 0


async def test_400_a_correlation_id_over_255_chars(api: Api) -> None:
    response = await api.post(f"{ORDER_PAID}?cid={'c' * 256}", key="shop-app", json={})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("cid: ")
    assert (await api.post(f"{ORDER_PAID}?cid={'c' * 255}", key="shop-app", json={})).status_code == 201


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (f"{SHOP}/e/frozen/trigger/", "event 'frozen' is locked"),
        (f"{SHOP}/e/retired/trigger/", "event 'retired' is inactive"),
        ("/api/o/acme/p/web/a/attic/e/dusted/trigger/", "application 'attic' is inactive"),
        ("/api/o/acme/p/legacy/a/old/e/ping/trigger/", "project 'legacy' is locked"),
    ],
)
async def test_400_an_inactive_or_locked_event_or_parent(api: Api, path: str, detail: str) -> None:
    response = await api.post(path, json={})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert await Occurrence.count() == 0


async def test_a_locked_event_is_refused_within_a_second(api: Api) -> None:
    assert (await api.post(ORDER_PAID, key="shop-app", json={})).status_code == 201
    await Event.update({Event.locked: True}).where(Event.slug == "order-paid")
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the API caches ([cache] of BASE_CONFIG)
    response = await api.post(ORDER_PAID, key="shop-app", json={})
    assert response.status_code == 400
    assert "locked" in response.json()["detail"]


# 401 / 403 / 404 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Key"}, {"Authorization": "Bearer abc"}, {"Authorization": "Key clk_nope"}],
    ids=["missing", "no-token", "other-scheme", "unknown"],
)
async def test_401_without_a_valid_key(api: Api, headers: dict[str, str]) -> None:
    for response in (
        await api.client.get(f"{SHOP}/e/", headers=headers),
        await api.client.post(ORDER_PAID, headers=headers, json={}),
    ):
        assert response.status_code == 401
        assert response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Key")


async def test_403_without_the_grant(api: Api) -> None:
    response = await api.get(f"{SHOP}/e/", key="without-event:list")
    assert response.status_code == 403
    assert response.json() == problem(403, "key lacks the grant event:list")
    response = await api.post(ORDER_PAID, key="without-event:trigger", json={})
    assert response.status_code == 403
    assert response.json() == problem(403, "key lacks the grant event:trigger")


async def test_403_outside_the_keys_scope(api: Api) -> None:
    response = await api.post("/api/o/acme/p/mobile/a/ios/e/launched/trigger/", key="shop-app", json={})
    assert response.status_code == 403
    assert response.json() == problem(403, "key is not valid for project 'mobile'")


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/o/acme/p/nope/a/shop/e/", "unknown project 'nope'"),
        ("/api/o/acme/p/web/a/nope/e/", "unknown application 'nope'"),
        ("/api/o/acme/p/nope/a/shop/e/order-paid/trigger/", "unknown project 'nope'"),
        ("/api/o/acme/p/web/a/nope/e/order-paid/trigger/", "unknown application 'nope'"),
        (f"{SHOP}/e/nope/trigger/", "unknown event 'nope'"),
    ],
)
async def test_404_unknown_project_application_or_event(api: Api, path: str, detail: str) -> None:
    response = await (api.get(path) if path.endswith("/e/") else api.post(path, json={}))
    assert response.json() == problem(404, detail)


# 405 / 404 route / 413 ---------------------------------------------------------------------------


async def test_405_wrong_method_is_a_problem(api: Api) -> None:
    for response in (await api.get(ORDER_PAID), await api.client.delete(f"{SHOP}/e/", headers=api.key("org-all"))):
        assert response.json() == problem(405, "Method Not Allowed")
        assert response.headers["content-type"] == "application/problem+json"
        assert "POST" in response.headers["allow"] or "GET" in response.headers["allow"]


async def test_404_unknown_route_is_a_problem(api: Api) -> None:
    for response in (
        await api.get("/api/o/acme/p/web/a/shop/nothing-here/"),
        await api.client.get("/nothing-here/"),  # outside /api/: no key needed to be told
    ):
        assert response.json() == problem(404, "Not Found")
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_framework_validation_error_is_a_problem_naming_the_parameter(api: Api) -> None:
    response = await api.get(f"{SHOP}/e/?limit=0")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(400, "limit: Expected int >= 1")


async def test_401_is_a_problem_with_its_challenge(api: Api) -> None:
    response = await api.client.get(f"{SHOP}/e/")
    assert response.json() == problem(401, "missing Authorization header: send 'Authorization: Key <token>'")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Key realm="clarion"'


async def test_413_a_body_over_the_limit(api: Api) -> None:
    limit = api.app.state.runtime.settings.server.max_body_bytes
    payload = json.dumps({"context": {"blob": "x" * limit}}).encode()
    response = await api.post(ORDER_PAID, key="shop-app", content=payload)
    assert response.json() == problem(413, f"body: larger than the {limit} bytes allowed")
    assert response.headers["content-type"] == "application/problem+json"

    async def chunks():  # no Content-Length: the limit holds on the bytes actually received
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = await api.post(ORDER_PAID, key="shop-app", content=chunks())
    assert response.status_code == 413
    assert await Occurrence.count() == 0


# Order of checks ---------------------------------------------------------------------------------


async def test_checks_come_in_the_documented_order(api: Api) -> None:
    bad = b"{not json"
    unknown_event = f"{SHOP}/e/nope/trigger/"
    # 401 beats everything
    assert (await api.client.post("/api/o/globex/p/x/a/y/e/z/trigger/", content=bad)).status_code == 401
    # 403 grant beats 403 scope and 404
    response = await api.post("/api/o/globex/p/x/a/y/e/z/trigger/", key="without-event:trigger", content=bad)
    assert (response.status_code, response.json()["detail"]) == (403, "key lacks the grant event:trigger")
    # 403 scope beats 404 (decided on slugs, even ones that do not exist)
    response = await api.post("/api/o/acme/p/web/a/ghost/e/z/trigger/", key="shop-app", content=bad)
    assert (response.status_code, response.json()["detail"]) == (403, "key is not valid for application 'ghost'")
    # 404 beats 400
    response = await api.post(unknown_event, key="shop-app", content=bad)
    assert response.status_code == 404
    # 400 beats the event's own state
    response = await api.post(f"{SHOP}/e/frozen/trigger/", key="shop-app", content=bad)
    assert (response.status_code, response.json()["detail"]) == (400, "body: not valid JSON")
