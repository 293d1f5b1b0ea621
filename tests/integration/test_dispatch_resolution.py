"""Who receives what: trigger options, notification settings and flags, through the real dispatcher."""

from typing import Any

import pytest
from delivery_support import Bed, HookSink, MailSink, bed, bed_config, catalog, event, hook_sink, mail_sink, member, notification, user  # noqa: F401

from clarion.notifications.tables import Notification, Subscription
from clarion.users.tables import Assignment

Pair = tuple[str, str]


@pytest.fixture
async def catalog_bed(bed: Bed, hook_sink: HookSink) -> Bed:
    users = [
        user("alice", hook=hook_sink.url("alice"), custom_fields={"team": "ops", "tags": ["oncall"]}),
        user("bob", hook=hook_sink.url("bob"), custom_fields={"team": "dev"}),
        user("carol", locked=True),
        user("dave"),
        user("erin", assignments=[{"address": "email", "channel": "email", "active": False}]),
    ]
    members = [member("alice"), member("alice", "webhook"), member("bob"), member("bob", "webhook"),
               member("carol"), member("erin")]
    notifications = [
        notification("tell ops", subscribers=[member("dave"), member("alice")]),
        notification("hooks only", channels=["webhook"]),
        notification("production only", channels=["email"], environments=["production"]),
        notification("dormant", active=False),
        notification("big orders", channels=["email"], filter={"order.total": [1000, 5000]}),
    ]
    await bed.apply(catalog(users, members, [event(notifications=notifications)]))
    return bed


async def received(bed: Bed, body: dict[str, Any] | None = None) -> set[Pair]:
    """(notification name, address) of every delivery of one trigger; all must be delivered."""
    occurrence, deliveries = await bed.settled(await bed.trigger(body=body))
    names = {row["id"]: row["name"] for row in await Notification.select(Notification.id, Notification.name)}
    assert occurrence["status"] == "completed"
    assert occurrence["recipients"] == len(deliveries)
    assert {row["status"] for row in deliveries} <= {"delivered"}, deliveries
    return {(names[row["notification"]], row["address"].rsplit("/", 1)[-1]) for row in deliveries}


EVERYONE = {
    ("tell ops", "alice@example.com"),
    ("tell ops", "alice"),
    ("tell ops", "bob@example.com"),
    ("tell ops", "bob"),
    ("tell ops", "dave@example.com"),
    ("hooks only", "alice"),
    ("hooks only", "bob"),
    ("production only", "alice@example.com"),
    ("production only", "bob@example.com"),
}


async def test_without_options_every_active_notification_reaches_its_active_unlocked_recipients(
    catalog_bed: Bed, mail_sink: MailSink
) -> None:
    # carol is locked, erin's assignment inactive, "dormant" inactive, "big orders" filters the context;
    # alice is both in the list and subscribed to "tell ops": one delivery.
    assert await received(catalog_bed) == EVERYONE
    assert len(mail_sink.to("alice@example.com")) == 2
    assert not mail_sink.to("carol@example.com") and not mail_sink.to("erin@example.com")


async def test_environs_select_notifications_by_environment(catalog_bed: Bed) -> None:
    staging = await received(catalog_bed, {"options": {"environs": ["staging"]}})
    assert staging == {pair for pair in EVERYONE if pair[0] != "production only"}
    production = await received(catalog_bed, {"options": {"environs": ["production", "qa"]}})
    assert production == EVERYONE


async def test_channels_option_narrows_within_what_notifications_allow(catalog_bed: Bed) -> None:
    assert await received(catalog_bed, {"options": {"channels": ["webhook"]}}) == {
        ("tell ops", "alice"), ("tell ops", "bob"), ("hooks only", "alice"), ("hooks only", "bob")
    }


async def test_limit_to_keeps_only_the_listed_addresses(catalog_bed: Bed, hook_sink: HookSink) -> None:
    pairs = await received(catalog_bed, {"options": {"limit_to": ["bob@example.com", hook_sink.url("alice")]}})
    assert pairs == {("tell ops", "bob@example.com"), ("production only", "bob@example.com"),
                     ("tell ops", "alice"), ("hooks only", "alice")}


async def test_filters_with_placeholders_from_the_context(catalog_bed: Bed) -> None:
    body = {"context": {"team": "dev"}, "options": {"filters": {"include": {"custom_fields.team": "{{ team }}"}}}}
    assert {address for _, address in await received(catalog_bed, body)} == {"bob@example.com", "bob"}
    body = {"options": {"filters": {"include": [{"custom_fields.tags": "oncall"}, {"username": "dave"}],
                                    "exclude": {"email": "dave@example.com"}}}}
    assert {address for _, address in await received(catalog_bed, body)} == {"alice@example.com", "alice"}


async def test_the_notification_context_filter(catalog_bed: Bed) -> None:
    pairs = await received(catalog_bed, {"context": {"order": {"total": 5000}}})
    assert pairs == EVERYONE | {("big orders", "alice@example.com"), ("big orders", "bob@example.com")}


async def test_inactive_subscription_and_assignment_hear_nothing(catalog_bed: Bed) -> None:
    await Subscription.update({Subscription.active: False}, force=True)
    pairs = await received(catalog_bed)
    assert ("tell ops", "dave@example.com") not in pairs
    assert ("tell ops", "alice@example.com") in pairs  # still in the list
    await Assignment.update({Assignment.active: False}).where(Assignment.channel == "webhook")
    assert {address for _, address in await received(catalog_bed)} == {"alice@example.com", "bob@example.com"}


async def test_an_event_without_recipients_completes_with_none(catalog_bed: Bed) -> None:
    occurrence, deliveries = await catalog_bed.settled(
        await catalog_bed.trigger(body={"options": {"limit_to": ["nobody@example.com"]}})
    )
    assert (occurrence["status"], occurrence["recipients"], deliveries) == ("completed", 0, [])
