"""Notifications and templates over HTTP (SPEC §3.3), on the real app and database."""

import pytest

from clarion.notifications.tables import Notification, Template
from management_support import ORDER_PAID, SHOP, WEB, list_ids, mapi, send  # noqa: F401

N = f"{ORDER_PAID}/n/"


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
    assert (await send(mapi, "PUT", path, json={"text": "{{ b }}"})).status_code == 200
    rows = await Template.select().where(Template.channel == "webhook")
    assert len(rows) == 1 and rows[0]["notification"] is None and rows[0]["text"] == "{{ b }}"
    assert (await send(mapi, "DELETE", path)).status_code == 204


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


MATRIX = [
    (None, "GET", N, 401),
    ("org-everyday", "GET", N, 403),
    ("without-admin", "POST", N, 403),
    ("globex-all", "GET", N, 403),
    ("web-admin", "GET", "/api/o/acme/p/mobile/a/ios/e/launched/n/", 403),
    ("shop-admin", "GET", f"{WEB}/a/blog/e/post-published/n/", 403),
    ("shop-admin", "PUT", f"{WEB}/a/blog/e/post-published/templates/email/", 403),
    ("shop-admin", "GET", N, 200),
    ("web-admin", "GET", N, 200),
    ("org-admin", "GET", N, 200),
    ("org-all", "GET", f"{SHOP}/e/nope/n/", 404),
    ("org-all", "GET", f"{N}123456/", 404),
]


@pytest.mark.parametrize(("key", "method", "path", "status"), MATRIX)
async def test_grant_and_scope_matrix(mapi, key, method, path, status):
    body = {"text": "x"} if method == "PUT" else None
    response = await send(mapi, method, path, key, json=body)
    assert response.status_code == status, response.text


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
