"""Notifications and templates over HTTP (SPEC §3.3), on the real app and database."""

from dataclasses import dataclass

import pytest

from clarion.notifications.tables import Notification, Template
from management_support import (  # noqa: F401
    ORDER_PAID,
    SHOP,
    WEB,
    Listed,
    ReadBack,
    check_matrix_row,
    list_ids,
    mapi,
    send,
)

N = f"{ORDER_PAID}/n/"


async def event_templates(event: str = "order-paid") -> dict[str, dict[str, str | None]]:
    """The event-level templates of `event` as stored, by channel (no API reads them back)."""
    from clarion.events.tables import Event

    rows = await Template.select(Template.channel, Template.subject, Template.text, Template.html).where(
        (Template.event == (await Event.select(Event.id).where(Event.slug == event).first())["id"])
        & Template.notification.is_null()
    )
    return {row.pop("channel"): row for row in rows}


@dataclass(frozen=True)
class EventTemplate:
    """A PUT of an event-level template, read back from the table (the answer is what is stored)."""

    channel: str

    async def check(self, api, answer) -> None:
        stored = await event_templates()
        assert {"channel": self.channel, **stored[self.channel]} == answer


async def _create(mapi, key="org-all", **body):
    return await send(mapi, "POST", N, key, json={"name": "ops", **body})


async def test_create_list_read_patch_delete(mapi):
    lists = await list_ids()
    created = await _create(
        mapi, distribution_list=lists["staff"], channels=["email", "pager"], environments=["production"]
    )
    assert created.status_code == 201, created.text
    body = created.json()
    pk = body["id"]
    assert body == {
        "id": pk,
        "name": "ops",
        "distribution_list": lists["staff"],
        "channels": ["email", "pager"],
        "environments": ["production"],
        "active": True,
    }
    listed = await send(mapi, "GET", N)
    assert listed.status_code == 200 and listed.json() == [body]
    read = await send(mapi, "GET", f"{N}{pk}/")
    assert read.json() == {**body, "templates": []}
    patched = await send(mapi, "PATCH", f"{N}{pk}/", json={"active": False, "distribution_list": None})
    assert patched.status_code == 200
    assert patched.json() == {**body, "active": False, "distribution_list": None}
    assert (await send(mapi, "DELETE", f"{N}{pk}/")).status_code == 204
    assert (await send(mapi, "GET", f"{N}{pk}/")).status_code == 404
    assert await Notification.count() == 0


async def test_list_is_paginated(mapi):
    for index in range(3):
        assert (await _create(mapi, name=f"n{index}")).status_code == 201
    first = await send(mapi, "GET", f"{N}?limit=2")
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["link"]
    url = first.headers["link"].split(">")[0].lstrip("<")
    second = await send(mapi, "GET", url)
    assert [n["name"] for n in second.json()] == ["n2"] and "link" not in second.headers


async def test_duplicate_name_is_409(mapi):
    assert (await _create(mapi)).status_code == 201
    response = await _create(mapi)
    assert response.status_code == 409 and response.json()["detail"].startswith("name:")
    other = await _create(mapi, name="other")
    response = await send(mapi, "PATCH", f"{N}{other.json()['id']}/", json={"name": "ops"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channels": ["sms"]}, "channels[0]"),
        ({"channels": ["email", "email"]}, "channels[1]"),
        ({"distribution_list": 999999}, "distribution_list"),
        ({"distribution_list": "staff"}, "distribution_list"),
        ({"environments": [""]}, "environments[0]"),
        ({"active": "yes"}, "active"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_bodies_name_the_field(mapi, body, field):
    response = await _create(mapi, **body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field}:")


async def test_distribution_list_must_fit_the_event(mapi):
    lists = await list_ids()
    assert (await _create(mapi, name="a", distribution_list=lists["shop-list"])).status_code == 201
    for name in ("blog-list", "mobile-list"):  # pinned to another application / in another project
        response = await _create(mapi, name=name, distribution_list=lists[name])
        assert response.status_code == 400 and response.json()["detail"].startswith("distribution_list:")


async def test_application_key_sees_only_lists_pinned_to_its_application(mapi):
    lists = await list_ids()
    assert (await _create(mapi, "shop-admin", name="a", distribution_list=lists["shop-list"])).status_code == 201
    response = await _create(mapi, "shop-admin", name="b", distribution_list=lists["staff"])
    assert response.status_code == 400
    assert (await _create(mapi, "web-admin", name="c", distribution_list=lists["staff"])).status_code == 201


async def test_notification_templates(mapi):
    pk = (await _create(mapi)).json()["id"]
    path = f"{N}{pk}/templates/email/"
    created = await send(mapi, "PUT", path, json={"subject": "Paid {{ order }}", "text": "Thanks"})
    assert created.status_code == 201
    assert created.json() == {"channel": "email", "subject": "Paid {{ order }}", "text": "Thanks", "html": None}
    replaced = await send(mapi, "PUT", path, json={"html": "<b>{{ order }}</b>"})
    assert replaced.status_code == 200 and replaced.json()["subject"] is None
    read = await send(mapi, "GET", f"{N}{pk}/")
    assert read.json()["templates"] == [{"channel": "email", "subject": None, "text": None, "html": "<b>{{ order }}</b>"}]
    assert (await send(mapi, "DELETE", path)).status_code == 204
    assert (await send(mapi, "DELETE", path)).status_code == 404
    assert (await send(mapi, "PUT", f"{N}999999/templates/email/", json={"text": "x"})).status_code == 404


async def test_event_templates(mapi):
    path = f"{ORDER_PAID}/templates/webhook/"
    assert (await send(mapi, "PUT", path, json={"text": "{{ a }}"})).status_code == 201
    assert (await send(mapi, "PUT", f"{ORDER_PAID}/templates/email/", json={"subject": "s"})).status_code == 201
    replaced = await send(mapi, "PUT", path, json={"text": "{{ b }}"})
    assert replaced.status_code == 200
    assert replaced.json() == {"channel": "webhook", "subject": None, "text": "{{ b }}", "html": None}
    assert await event_templates() == {
        "webhook": {"subject": None, "text": "{{ b }}", "html": None},
        "email": {"subject": "s", "text": None, "html": None},
    }
    assert (await send(mapi, "DELETE", path)).status_code == 204
    # read back: the webhook template is gone, the email one stays, and a second delete finds nothing
    assert await event_templates() == {"email": {"subject": "s", "text": None, "html": None}}
    again = await send(mapi, "DELETE", path)
    assert (again.status_code, again.json()["detail"]) == (404, "no template for channel 'webhook'")


@pytest.mark.parametrize(
    ("path_channel", "body", "field"),
    [
        ("sms", {"text": "x"}, "channel"),
        ("email", {"text": "{% if %}"}, "text"),
        ("email", {"html": "{{ x "}, "html"),
        ("email", {"subject": "{% for x in y %}"}, "subject"),
        ("email", {}, "body"),
        ("email", {"text": 3}, "text"),
        ("email", {"text": "x" * 70000}, "text"),
    ],
)
async def test_bad_templates_are_400_naming_the_field(mapi, path_channel, body, field):
    response = await send(mapi, "PUT", f"{ORDER_PAID}/templates/{path_channel}/", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field}:")


async def test_disabled_channel_is_accepted(mapi):
    assert (await send(mapi, "PUT", f"{ORDER_PAID}/templates/pager/", json={"text": "x"})).status_code == 201


NO_KEY = "missing Authorization header: send 'Authorization: Key <token>'"
NOTIFICATION = {"name": "ops", "channels": ["email"]}
TEMPLATE = {"subject": "Paid", "text": "{{ order_id }}"}
# (key, method, path, body, status, expected): the exact detail of a refusal (nothing stored changes),
# or how a success is read back (management_support)
MATRIX = [
    (None, "GET", N, None, 401, NO_KEY),
    ("org-everyday", "GET", N, None, 403, "key lacks the grant admin"),
    ("without-admin", "POST", N, NOTIFICATION, 403, "key lacks the grant admin"),
    ("globex-all", "GET", N, None, 403, "key is not valid for organization 'acme'"),
    ("web-admin", "GET", "/api/o/acme/p/mobile/a/ios/e/launched/n/", None, 403, "key is not valid for project 'mobile'"),
    ("shop-admin", "GET", f"{WEB}/a/blog/e/post-published/n/", None, 403, "key is not valid for application 'blog'"),
    ("shop-admin", "PUT", f"{WEB}/a/blog/e/post-published/templates/email/", TEMPLATE, 403,
     "key is not valid for application 'blog'"),
    ("shop-admin", "POST", N, NOTIFICATION, 201, ReadBack(N + "{id}/", (("templates", []),))),
    ("web-admin", "POST", N, NOTIFICATION, 201, ReadBack(N + "{id}/", (("templates", []),))),
    ("org-admin", "POST", N, NOTIFICATION, 201, Listed(N, key="id")),
    ("shop-admin", "PUT", f"{ORDER_PAID}/templates/email/", TEMPLATE, 201, EventTemplate("email")),
    ("org-all", "GET", f"{SHOP}/e/nope/n/", None, 404, "unknown event 'nope'"),
    ("org-all", "GET", f"{N}123456/", None, 404, "unknown notification 123456"),
    ("org-all", "PUT", f"{N}123456/templates/email/", TEMPLATE, 404, "unknown notification 123456"),
]


@pytest.mark.parametrize(("key", "method", "path", "body", "status", "expected"), MATRIX)
async def test_grant_and_scope_matrix(mapi, key, method, path, body, status, expected):
    await check_matrix_row(mapi, key, method, path, body, status, expected)


async def test_notification_with_deliveries_cannot_be_deleted(mapi):
    from datetime import datetime, timezone

    from clarion.occurrences.tables import Delivery, Occurrence
    from clarion.users.tables import Address, Assignment, User
    from clarion.events.tables import Event
    from clarion.organizations.tables import Organization

    pk = (await _create(mapi)).json()["id"]
    now = datetime.now(timezone.utc)
    org = (await Organization.select(Organization.id).where(Organization.slug == "acme").first())["id"]
    user = (await User.insert(User(organization=org, username="u", created=now)).returning(User.id))[0]["id"]
    address = (
        await Address.insert(Address(user=user, name="e", value="u@example.com", kind="email", created=now)).returning(
            Address.id
        )
    )[0]["id"]
    assignment = (await Assignment.insert(Assignment(address=address, channel="email", created=now)).returning(Assignment.id))[0]["id"]
    event = (await Event.select(Event.id).where(Event.slug == "order-paid").first())["id"]
    await Occurrence.insert(Occurrence(id="01occ", event=event, created=now, updated=now))
    await Delivery.insert(
        Delivery(id="01del", occurrence="01occ", assignment=assignment, notification=pk, channel="email",
                 address="u@example.com", created=now, updated=now)
    )
    response = await send(mapi, "DELETE", f"{N}{pk}/")
    assert response.status_code == 409 and "deliveries" in response.json()["detail"]
