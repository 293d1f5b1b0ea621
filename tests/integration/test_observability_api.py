"""The occurrence detail, an event's occurrences (paginated, by status) and trigger preview."""

import asyncio
from datetime import UTC, datetime

import pytest
from clarion_test_support import CACHE_EXPIRY_S
from delivery_support import (  # noqa: F401
    APP_PATH,
    Bed,
    HookSink,
    MailSink,
    bed,
    bed_config,
    catalog,
    event,
    hook_sink,
    mail_sink,
    member,
    notification,
    user,
)

from clarion.occurrences.tables import Delivery, Occurrence
from clarion.events.tables import Event
from clarion_test_support import problem

KEYS = [
    {"name": "reader", "grants": ["occurrence:read"]},
    {"name": "trigger-only", "grants": ["event:trigger"]},
    {"name": "shop-app", "project": "web", "application": "shop", "grants": ["event:trigger", "occurrence:read"]},
    {"name": "blog-app", "project": "web", "application": "blog", "grants": ["event:trigger", "occurrence:read"]},
]
EVENT_PATH = f"{APP_PATH}/e/order-paid"


@pytest.fixture
async def shop(bed: Bed, hook_sink: HookSink) -> Bed:
    templates = {"email": {"subject": "Order {{ order_id }}", "text": "Hi {{ recipient.first_name }}",
                           "html": "<b>{{ order_id }}</b>"}}
    notifications = [notification(templates=templates),
                     notification("broken", channels=["email"], templates={"email": {"subject": "{{ 1/0 }}"}})]
    await bed.apply(catalog(
        [user("alice", hook=hook_sink.url("alice")), user("bob")],
        [member("alice"), member("alice", "webhook"), member("bob")],
        [event(notifications=notifications), event("quiet", notifications=[])],
        applications=[{"slug": "blog", "name": "Blog", "events": [{"slug": "posted", "name": "Posted"}]}],
        api_keys=KEYS,
    ))
    return bed


async def test_the_detail_shows_the_occurrence_and_every_delivery(shop: Bed, hook_sink: HookSink) -> None:
    occurrence_id = await shop.trigger(body={"context": {"order_id": 9}, "options": {"environs": ["prod"]}}, cid="c-1")
    await shop.settled(occurrence_id)
    response = await shop.client.get(f"{APP_PATH}/occurrences/{occurrence_id}/", headers=shop.key("reader"))
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("id", "event", "status", "recipients", "correlation_id", "context", "options")} == {
        "id": occurrence_id, "event": "order-paid", "status": "completed", "recipients": 5,
        "correlation_id": "c-1", "context": {"order_id": 9}, "options": {"environs": ["prod"]},
    }
    assert body["created"] and body["error"] is None
    deliveries = sorted((d["notification_name"], d["channel"], d["address"], d["username"], d["status"], d["reason"])
                        for d in body["deliveries"])
    assert deliveries == [
        ("broken", "email", "alice@example.com", "alice", "failed", "render_error"),
        ("broken", "email", "bob@example.com", "bob", "failed", "render_error"),
        ("tell ops", "email", "alice@example.com", "alice", "delivered", None),
        ("tell ops", "email", "bob@example.com", "bob", "delivered", None),
        ("tell ops", "webhook", hook_sink.url("alice"), "alice", "delivered", None),
    ]
    for delivery in body["deliveries"]:
        assert {"id", "attempts", "last_error", "next_attempt_at", "delivered_at", "notification"} <= set(delivery)
        if delivery["status"] == "delivered":
            assert delivery["delivered_at"] and delivery["attempts"] == 1 and delivery["last_error"] is None
        else:
            assert "ZeroDivisionError" in delivery["last_error"] and delivery["delivered_at"] is None


async def test_the_detail_is_404_outside_the_application_and_403_without_the_grant(shop: Bed) -> None:
    occurrence_id = await shop.trigger()
    blog = f"/api/o/acme/p/web/a/blog/occurrences/{occurrence_id}/"
    response = await shop.client.get(blog, headers=shop.headers)
    assert (response.status_code, response.json()) == (404, problem(404, f"unknown occurrence {occurrence_id!r}"))
    response = await shop.client.get(f"{APP_PATH}/occurrences/NOPE/", headers=shop.headers)
    assert response.status_code == 404
    assert (await shop.client.get(blog.replace("/blog/", "/nope/"), headers=shop.headers)).status_code == 404
    response = await shop.client.get(f"{APP_PATH}/occurrences/{occurrence_id}/", headers=shop.key("trigger-only"))
    assert (response.status_code, response.json()) == (403, problem(403, "key lacks the grant occurrence:read"))
    response = await shop.client.get(f"{APP_PATH}/occurrences/{occurrence_id}/", headers=shop.key("blog-app"))
    assert response.status_code == 403
    response = await shop.client.get(f"{APP_PATH}/occurrences/{occurrence_id}", headers=shop.key("shop-app"))
    assert response.status_code == 200


async def test_the_list_is_newest_first_paginated_and_filtered_by_status(shop: Bed) -> None:
    ids = [await shop.trigger(body={"context": {"order_id": n}}) for n in range(3)]
    for occurrence_id in ids:
        await shop.settled(occurrence_id)
    event_id = (await Event.select(Event.id).where(Event.slug == "order-paid").first())["id"]  # type: ignore[index]
    now = datetime.now(UTC)
    await Occurrence.insert(Occurrence(id="01ZZZZZZZZZZZZZZZZZZZZZZZZ", event=event_id, status="failed",
                                       error="could not be expanded", created=now, updated=now))
    response = await shop.client.get(f"{EVENT_PATH}/occurrences/", headers=shop.key("reader"))
    assert response.status_code == 200 and "link" not in response.headers
    assert [item["id"] for item in response.json()] == ["01ZZZZZZZZZZZZZZZZZZZZZZZZ", *reversed(ids)]
    assert response.json()[1]["context"] == {"order_id": 2} and response.json()[1]["recipients"] == 5

    first = await shop.client.get(f"{EVENT_PATH}/occurrences/", params={"limit": 2, "status": "completed"},
                                  headers=shop.key("reader"))
    assert [item["id"] for item in first.json()] == [ids[2], ids[1]]
    assert first.headers["link"].endswith('rel="next"')
    next_url = first.headers["link"].split(">", 1)[0].lstrip("<")
    assert "status=completed" in next_url
    second = await shop.client.get(next_url, headers=shop.key("reader"))
    assert [item["id"] for item in second.json()] == [ids[0]] and "link" not in second.headers

    failed = await shop.client.get(f"{EVENT_PATH}/occurrences", params={"status": "failed"}, headers=shop.key("reader"))
    assert [(item["id"], item["error"]) for item in failed.json()] == [("01ZZZZZZZZZZZZZZZZZZZZZZZZ", "could not be expanded")]
    bad = await shop.client.get(f"{EVENT_PATH}/occurrences/", params={"status": "done"}, headers=shop.key("reader"))
    assert bad.status_code == 400 and bad.json()["detail"].startswith("status:")
    quiet = await shop.client.get(f"{APP_PATH}/e/quiet/occurrences/", headers=shop.key("reader"))
    assert quiet.json() == []
    missing = await shop.client.get(f"{APP_PATH}/e/nope/occurrences/", headers=shop.key("reader"))
    assert (missing.status_code, missing.json()) == (404, problem(404, "unknown event 'nope'"))


async def test_preview_shows_recipients_and_messages_and_stores_and_sends_nothing(
    shop: Bed, mail_sink: MailSink, hook_sink: HookSink
) -> None:
    body = {"context": {"order_id": "<7>"}, "options": {"filters": {"exclude": {"username": "bob"}}}}
    response = await shop.client.post(f"{EVENT_PATH}/preview/", json=body, headers=shop.key("shop-app"))
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["event"], preview["paused"], preview["recipients"]) == ("order-paid", False, 3)
    messages = sorted(preview["messages"], key=lambda m: (m["notification_name"], m["channel"]))
    assert [(m["notification_name"], m["channel"], m["address"], m["status"], m["reason"]) for m in messages] == [
        ("broken", "email", "alice@example.com", "failed", "render_error"),
        ("tell ops", "email", "alice@example.com", "pending", None),
        ("tell ops", "webhook", hook_sink.url("alice"), "pending", None),
    ]
    assert (messages[1]["subject"], messages[1]["text"], messages[1]["html"]) == ("Order <7>", "Hi Alice", "<b>&lt;7&gt;</b>")
    assert "ZeroDivisionError" in messages[0]["error"]
    await asyncio.sleep(0.2)  # several dispatcher polls
    assert await Occurrence.count() == 0 and await Delivery.count() == 0
    assert not mail_sink.received and not hook_sink.received


async def test_preview_needs_both_grants_and_checks_the_body_like_trigger(shop: Bed) -> None:
    for key in ("trigger-only", "reader"):
        response = await shop.client.post(f"{EVENT_PATH}/preview/", json={}, headers=shop.key(key))
        assert response.status_code == 403
    response = await shop.client.post(f"{EVENT_PATH}/preview/", json={"options": {"bogus": 1}}, headers=shop.headers)
    assert (response.status_code, response.json()) == (400, problem(400, "options.bogus: unknown option"))
    response = await shop.client.post(f"{EVENT_PATH}/preview/", json={"options": {"channels": ["sms"]}}, headers=shop.headers)
    assert response.status_code == 400 and "options.channels[0]" in response.json()["detail"]
    response = await shop.client.post(f"{APP_PATH}/e/nope/preview/", json={}, headers=shop.headers)
    assert response.status_code == 404
    response = await shop.client.post(f"{EVENT_PATH}/preview", content=b"", headers=shop.headers)
    assert response.status_code == 200 and response.json()["recipients"] == 5


async def test_preview_of_a_paused_event_says_so(shop: Bed) -> None:
    await Event.update({Event.paused: True}).where(Event.slug == "order-paid")
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the slug cache ([cache] of delivery_config)
    response = await shop.client.post(f"{EVENT_PATH}/preview/", json={}, headers=shop.headers)
    assert response.status_code == 200 and response.json()["paused"] is True
