"""Sending: results, retries with backoff and Retry-After, channels switched off at send time,
paused events, leases renewed while a send takes long."""

import asyncio
import time
from datetime import UTC, datetime

import pytest
from delivery_support import (  # noqa: F401
    Bed,
    HookSink,
    MailSink,
    bed,
    by_address,
    catalog,
    delivery_config,
    event,
    hook_sink,
    mail_sink,
    member,
    notification,
    running_bed,
    user,
    wait_until,
)
from standardwebhooks import Webhook

from clarion.process import new_dispatcher
from clarion.occurrences.tables import Occurrence
from clarion.events.tables import Event
from clarion.settings import parse_settings

SECRET = "whsec_" + "c2VjcmV0LWtleS1vZi1hbGljZQ=="


@pytest.fixture
def bed_config(mail_sink: MailSink) -> str:
    return delivery_config(mail_sink.port, extra='\n[channels.spare]\ntype = "webhook"\nenabled = false\n[channels.spare.options]\nallow_private_targets = true\n')


async def hooks_catalog(bed: Bed, hook_sink: HookSink, *paths: str, **notification_fields: object) -> None:
    users = [user(path, hook=hook_sink.url(path)) for path in paths]
    await bed.apply(catalog(users, [member(path, "webhook") for path in paths],
                            [event(notifications=[notification(templates={}, **notification_fields)])]))


async def test_emails_and_signed_webhooks_are_delivered(bed: Bed, mail_sink: MailSink, hook_sink: HookSink) -> None:
    users = [user("alice", hook=hook_sink.url("alice"), assignments=[{"address": "hook", "channel": "webhook", "secret": SECRET}])]
    await bed.apply(catalog(users, [member("alice"), member("alice", "webhook")], [event()]))
    occurrence_id = await bed.trigger(body={"context": {"order_id": 42}}, cid="corr-1")
    occurrence, deliveries = await bed.settled(occurrence_id)
    assert (occurrence["status"], occurrence["recipients"]) == ("completed", 2)
    mail = mail_sink.to("alice@example.com")[0]
    assert mail.message["Subject"] == "Order 42 paid"
    assert mail.message.get_content().strip() == "Hi Alice, order 42."
    hook = hook_sink.received[0]
    payload = Webhook(SECRET).verify(hook.body, hook.headers)  # signed with the assignment's own secret
    assert payload == {"type": "order-paid", "occurrence": occurrence_id, "timestamp": payload["timestamp"],
                       "data": {"order_id": 42}, "correlation_id": "corr-1"}
    rows = by_address(deliveries)
    assert rows["alice@example.com"]["provider_id"] == mail.message["Message-ID"]
    assert hook.headers["webhook-id"] == rows[hook_sink.url("alice")]["id"]
    for row in deliveries:
        assert (row["status"], row["attempts"], row["reason"], row["claimed_by"]) == ("delivered", 1, None, None)
        assert row["delivered_at"] is not None


async def test_smtp_down_then_back_is_delivered_by_a_retry(make_settings, hook_sink: HookSink) -> None:  # type: ignore[no-untyped-def]
    down = MailSink()  # not started: connections are refused
    async with running_bed(make_settings(delivery_config(down.port))) as bed:
        await bed.apply(catalog([user("alice")], [member("alice")], [event()]))
        occurrence_id = await bed.trigger(body={"context": {"order_id": 1}})

        async def failed_once() -> bool:
            rows = await bed.deliveries(occurrence_id)
            return bool(rows) and rows[0]["last_error"] is not None

        await wait_until(failed_once)
        row = (await bed.deliveries(occurrence_id))[0]
        assert row["status"] == "pending" and "connect" in row["last_error"]
        down.start()
        try:
            occurrence, deliveries = await bed.settled(occurrence_id)
        finally:
            down.stop()
    assert occurrence["status"] == "completed"
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["attempts"] >= 2
    assert len(down.received) == 1


async def test_webhook_410_fails_permanently_without_retry(bed: Bed, hook_sink: HookSink) -> None:
    hook_sink.script["/gone"] = [(410, {})]
    await hooks_catalog(bed, hook_sink, "gone", "fine")
    occurrence, deliveries = await bed.settled(await bed.trigger())
    rows = by_address(deliveries)
    gone = rows[hook_sink.url("gone")]
    assert (gone["status"], gone["reason"], gone["last_error"], gone["attempts"]) == ("failed", "http_410", "http_410", 1)
    assert rows[hook_sink.url("fine")]["status"] == "delivered"
    assert occurrence["status"] == "completed"
    await asyncio.sleep(0.3)  # several backoff periods: nothing else arrives
    assert len(hook_sink.at("/gone")) == 1


async def test_503_with_retry_after_is_retried_no_sooner(bed: Bed, hook_sink: HookSink) -> None:
    hook_sink.script["/busy"] = [(503, {"Retry-After": "1"}), (200, {})]
    await hooks_catalog(bed, hook_sink, "busy")
    occurrence, deliveries = await bed.settled(await bed.trigger(), timeout=10)
    first, second = hook_sink.at("/busy")
    assert second.at - first.at >= 0.95  # base backoff is 0.05 s: Retry-After won
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # stable idempotency key
    assert (deliveries[0]["status"], deliveries[0]["attempts"], deliveries[0]["last_error"]) == ("delivered", 2, "http_503")


async def test_transient_failures_end_after_max_attempts(make_settings, hook_sink: HookSink) -> None:  # type: ignore[no-untyped-def]
    hook_sink.script["/down"] = [(500, {})]
    async with running_bed(make_settings(delivery_config(1), dispatch={"max_attempts": 3})) as bed:
        await hooks_catalog(bed, hook_sink, "down")
        occurrence, deliveries = await bed.settled(await bed.trigger())
    assert (deliveries[0]["status"], deliveries[0]["reason"], deliveries[0]["attempts"]) == ("failed", "max_attempts", 3)
    assert deliveries[0]["last_error"] == "http_500"
    assert len(hook_sink.at("/down")) == 3
    assert occurrence["status"] == "completed"


async def switch_channels(bed: Bed, toml: str) -> None:
    runtime = bed.runtime
    new = parse_settings(toml, environ={"CLARION_DATABASE_URL": runtime.settings.database.url})
    await runtime.channels.apply(new.channels)


async def test_a_channel_disabled_before_the_retry_is_skipped(bed: Bed, hook_sink: HookSink, mail_sink: MailSink) -> None:
    hook_sink.script["/flaky"] = [(503, {"Retry-After": "1"}), (200, {})]
    await hooks_catalog(bed, hook_sink, "flaky")
    occurrence_id = await bed.trigger()
    await hook_sink.wait_for(1)
    await switch_channels(bed, delivery_config(mail_sink.port).replace(
        '[channels.webhook]\ntype = "webhook"\nenabled = true', '[channels.webhook]\ntype = "webhook"\nenabled = false'))
    occurrence, deliveries = await bed.settled(occurrence_id)
    assert (deliveries[0]["status"], deliveries[0]["reason"], deliveries[0]["attempts"]) == ("skipped", "channel_disabled", 1)
    assert occurrence["status"] == "completed" and len(hook_sink.received) == 1


async def test_a_channel_removed_before_the_retry_is_skipped_as_unknown(bed: Bed, hook_sink: HookSink, mail_sink: MailSink) -> None:
    hook_sink.script["/flaky"] = [(503, {"Retry-After": "1"}), (200, {})]
    await hooks_catalog(bed, hook_sink, "flaky")
    occurrence_id = await bed.trigger()
    await hook_sink.wait_for(1)
    without_webhook = delivery_config(mail_sink.port).split("[channels.webhook]")[0]
    await switch_channels(bed, without_webhook)
    _, deliveries = await bed.settled(occurrence_id)
    assert (deliveries[0]["status"], deliveries[0]["reason"]) == ("skipped", "channel_unknown")
    assert deliveries[0]["last_error"] == "channel 'webhook' is not configured"


async def test_a_disabled_channel_named_in_the_trigger_is_skipped(bed: Bed, hook_sink: HookSink) -> None:
    await bed.apply(catalog([user("alice", hook=hook_sink.url("alice"))], [member("alice"), member("alice", "spare")],
                            [event()]))
    _, deliveries = await bed.settled(await bed.trigger(body={"options": {"channels": ["spare"]}}))
    assert [(row["channel"], row["status"], row["reason"]) for row in deliveries] == [("spare", "skipped", "channel_disabled")]
    assert deliveries[0]["attempts"] == 0 and not hook_sink.received


async def test_paused_events_wait_until_unpaused(bed: Bed, mail_sink: MailSink) -> None:
    await bed.apply(catalog([user("alice")], [member("alice")], [event(paused=True)]))
    response = await bed.client.post("/api/o/acme/p/web/a/shop/e/order-paid/trigger/", json={}, headers=bed.headers)
    assert response.status_code == 201 and response.json()["paused"] is True
    occurrence_id = response.json()["occurrence"]
    await asyncio.sleep(0.3)  # several polls
    assert (await bed.occurrence(occurrence_id))["status"] == "pending"
    assert not mail_sink.received
    await Event.update({Event.paused: False}, force=True)
    occurrence, _ = await bed.settled(occurrence_id)
    assert occurrence["status"] == "completed" and len(mail_sink.received) == 1


async def test_an_occurrence_that_cannot_be_expanded_fails_with_its_error(bed: Bed) -> None:
    await bed.apply(catalog([user("alice")], [member("alice")], [event()]))
    event_id = (await Event.select(Event.id).first())["id"]  # type: ignore[index]
    now = datetime.now(UTC)
    await Occurrence.insert(Occurrence(id="01BADOPTIONS0000000000000", event=event_id, context="{}",
                                       options='{"channels": "not-a-list"}', created=now, updated=now))
    await bed.runtime.announce_work()
    occurrence, deliveries = await bed.settled("01BADOPTIONS0000000000000")
    assert occurrence["status"] == "failed" and "options" in occurrence["error"] and deliveries == []


async def test_leases_are_renewed_while_a_slow_send_is_in_hand(make_settings, mail_sink: MailSink) -> None:  # type: ignore[no-untyped-def]
    """lease_s = 1 and a 2.5 s SMTP server: a second dispatcher must not take the delivery over."""
    mail_sink.delay_s = 2.5
    async with running_bed(make_settings(delivery_config(mail_sink.port, lease_s=1))) as bed:
        await bed.apply(catalog([user("alice")], [member("alice")], [event()]))
        async with new_dispatcher(bed.runtime) as rival:
            occurrence_id = await bed.trigger()
            occurrence, deliveries = await bed.settled(occurrence_id)
        assert rival.stats.deliveries["delivered"] + bed.runtime.dispatcher.stats.deliveries["delivered"] == 1  # type: ignore[union-attr]
    assert len(mail_sink.received) == 1
    assert (deliveries[0]["status"], deliveries[0]["attempts"]) == ("delivered", 1)


async def test_stopping_gives_back_leases_of_unfinished_sends(make_settings, mail_sink: MailSink) -> None:  # type: ignore[no-untyped-def]
    mail_sink.delay_s = 5
    async with running_bed(make_settings(delivery_config(mail_sink.port))) as bed:
        await bed.apply(catalog([user("alice")], [member("alice")], [event()]))
        occurrence_id = await bed.trigger()
        await wait_until(lambda: bed.runtime.dispatcher.in_flight == 1)  # type: ignore[union-attr]
        await bed.runtime.dispatcher.stop(grace_s=0.1)  # type: ignore[union-attr]
        row = (await bed.deliveries(occurrence_id))[0]
    assert (row["status"], row["claimed_by"], row["lease_until"], row["attempts"]) == ("pending", None, None, 0)


async def test_a_burst_of_concurrent_triggers_is_delivered_exactly_once(bed: Bed, mail_sink: MailSink, hook_sink: HookSink) -> None:
    await bed.apply(catalog([user("alice", hook=hook_sink.url("alice")), user("bob")],
                            [member("alice", "webhook"), member("bob")], [event()]))
    occurrences = await asyncio.gather(*(bed.trigger(body={"context": {"order_id": n}}) for n in range(150)))
    await wait_until(lambda: len(mail_sink.received) >= 150 and len(hook_sink.received) >= 150, timeout=30)
    for occurrence_id in occurrences:
        occurrence, deliveries = await bed.settled(occurrence_id)
        assert occurrence["status"] == "completed" and [row["status"] for row in deliveries] == ["delivered"] * 2
    assert max(mail_sink.counts().values()) == 1 and len(mail_sink.counts()) == 150
    assert max(hook_sink.counts().values()) == 1 and len(hook_sink.counts()) == 150
    assert sorted(str(mail.message["Subject"]) for mail in mail_sink.received) == sorted(f"Order {n} paid" for n in range(150))


async def test_with_private_targets_refused_loopback_and_numeric_hosts_fail_and_receive_nothing(
    make_settings, mail_sink: MailSink, hook_sink: HookSink  # type: ignore[no-untyped-def]
) -> None:
    config = delivery_config(mail_sink.port).replace("allow_private_targets = true", "allow_private_targets = false")
    numeric = f"http://2130706433:{hook_sink.port}/bob"
    async with running_bed(make_settings(config)) as bed:
        assert bed.runtime.channels.channel("webhook").options.allow_private_targets is False  # type: ignore[union-attr]
        users = [user("alice", hook=hook_sink.url("alice")), user("bob", hook=numeric)]
        await bed.apply(catalog(users, [member("alice", "webhook"), member("bob", "webhook")],
                                [event(notifications=[notification(templates={})])]))
        occurrence_id = await bed.trigger(body={"context": {"order_id": 7}})
        occurrence, deliveries = await bed.settled(occurrence_id)
    assert occurrence["status"] == "completed"
    rows = by_address(deliveries)
    assert {address: (row["status"], row["reason"], row["attempts"]) for address, row in rows.items()} == {
        hook_sink.url("alice"): ("failed", "address_rejected", 1),
        numeric: ("failed", "address_rejected", 1),
    }
    assert rows[hook_sink.url("alice")]["last_error"] == "address_rejected: 127.0.0.1 is not a public address (loopback)"
    assert rows[numeric]["last_error"] == (
        "address_rejected: host '2130706433' is a numeric form of an IP address, not a dotted quad:"
        " write the address as a.b.c.d"
    )
    assert hook_sink.received == []
