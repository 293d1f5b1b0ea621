"""Managing projects, applications and events over HTTP (SPEC §3.3), on the real app and database."""

import asyncio
import time

import pytest
from clarion_test_support import CACHE_EXPIRY_S

from clarion.occurrences.tables import Occurrence
from clarion.events.tables import Event
from clarion.organizations.tables import Project
from management_support import ORDER_PAID, SHOP, WEB, Gone, Listed, ReadBack, check_matrix_row, mapi, send  # noqa: F401

NEW_PROJECT = {"slug": "data", "name": "Data"}


async def test_create_project_then_read_it(mapi):
    response = await send(mapi, "POST", "/api/o/acme/p/", json={**NEW_PROJECT, "paused": True})
    assert response.status_code == 201, response.text
    assert response.json() == {"slug": "data", "name": "Data", "active": True, "locked": False, "paused": True}
    read = await send(mapi, "GET", "/api/o/acme/p/data/")
    assert read.status_code == 200 and read.json()["paused"] is True


async def test_create_project_without_trailing_slash(mapi):
    assert (await send(mapi, "POST", "/api/o/acme/p", json=NEW_PROJECT)).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No slug"}, "slug"),
        ({"slug": "Bad Slug", "name": "x"}, "slug"),
        ({"slug": "ok"}, "name"),
        ({"slug": "ok", "name": ""}, "name"),
        ({"slug": "ok", "name": "x", "colour": "red"}, "colour"),
        ({"slug": "ok", "name": "x", "locked": "yes"}, "locked"),
    ],
)
async def test_create_project_bad_body_names_the_field(mapi, body, field):
    response = await send(mapi, "POST", "/api/o/acme/p/", json=body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:")


async def test_not_json_is_400(mapi):
    response = await send(mapi, "POST", "/api/o/acme/p/", content=b"{nope")
    assert response.status_code == 400 and response.json()["detail"].startswith("body:")


async def test_duplicate_slugs_are_409(mapi):
    assert (await send(mapi, "POST", "/api/o/acme/p/", json={"slug": "web", "name": "Again"})).status_code == 409
    response = await send(mapi, "POST", f"{WEB}/a/", json={"slug": "shop", "name": "Again"})
    assert response.status_code == 409 and response.json()["detail"].startswith("slug:")
    response = await send(mapi, "POST", f"{SHOP}/e/", json={"slug": "order-paid", "name": "Again"})
    assert response.status_code == 409 and response.json()["detail"].startswith("slug:")
    # the same slug under another parent is fine
    assert (await send(mapi, "POST", "/api/o/acme/p/mobile/a/", json={"slug": "shop", "name": "S"})).status_code == 201


async def test_patch_changes_only_given_fields(mapi):
    response = await send(mapi, "PATCH", "/api/o/acme/p/mobile/", json={"name": "Mobile apps"})
    assert response.status_code == 200, response.text
    assert response.json() == {"slug": "mobile", "name": "Mobile apps", "active": True, "locked": False, "paused": False}
    response = await send(mapi, "PATCH", "/api/o/acme/p/mobile/", json={"paused": True})
    assert response.json()["name"] == "Mobile apps" and response.json()["paused"] is True
    assert (await send(mapi, "PATCH", "/api/o/acme/p/mobile/", json={})).json()["paused"] is True
    assert (await send(mapi, "PATCH", "/api/o/acme/p/mobile/", json={"slug": "x"})).status_code == 400


async def test_application_lifecycle(mapi):
    created = await send(mapi, "POST", f"{WEB}/a/", json={"slug": "crm", "name": "CRM"})
    assert created.status_code == 201
    assert created.json() == {"slug": "crm", "name": "CRM", "active": True, "locked": False, "paused": False}
    listed = await send(mapi, "GET", f"{WEB}/a/")
    assert "crm" in [app["slug"] for app in listed.json()]
    patched = await send(mapi, "PATCH", f"{WEB}/a/crm/", json={"locked": True, "name": "Customers"})
    assert patched.json() == {"slug": "crm", "name": "Customers", "active": True, "locked": True, "paused": False}
    assert (await send(mapi, "DELETE", f"{WEB}/a/crm/")).status_code == 204
    assert (await send(mapi, "PATCH", f"{WEB}/a/crm/", json={})).status_code == 404


async def test_event_lifecycle_and_trigger(mapi):
    body = {"slug": "signed-up", "name": "Signed up", "description": "a new customer"}
    created = await send(mapi, "POST", f"{SHOP}/e/", json=body)
    assert created.status_code == 201, created.text
    assert created.json() == {**body, "active": True, "locked": False, "paused": False}
    events = await send(mapi, "GET", f"{SHOP}/e/")
    assert "signed-up" in [event["slug"] for event in events.json()]
    assert (await send(mapi, "POST", f"{SHOP}/e/signed-up/trigger/", json={})).status_code == 201
    patched = await send(mapi, "PATCH", f"{SHOP}/e/signed-up/", json={"description": "changed"})
    assert patched.json()["description"] == "changed" and patched.json()["name"] == "Signed up"
    response = await send(mapi, "DELETE", f"{SHOP}/e/signed-up/")
    assert response.status_code == 409 and "occurrences" in response.json()["detail"]


async def test_event_without_occurrences_is_deleted_with_notifications_and_templates(mapi):
    await send(mapi, "POST", f"{SHOP}/e/", json={"slug": "tmp", "name": "Tmp"})
    notification = await send(mapi, "POST", f"{SHOP}/e/tmp/n/", json={"name": "n"})
    assert notification.status_code == 201, notification.text
    pk = notification.json()["id"]
    assert (await send(mapi, "PUT", f"{SHOP}/e/tmp/templates/email/", json={"text": "hi"})).status_code == 201
    assert (await send(mapi, "PUT", f"{SHOP}/e/tmp/n/{pk}/templates/email/", json={"text": "yo"})).status_code == 201
    assert (await send(mapi, "DELETE", f"{SHOP}/e/tmp/")).status_code == 204
    assert not await Event.exists().where(Event.slug == "tmp")
    assert (await send(mapi, "GET", f"{SHOP}/e/tmp/n/")).status_code == 404


async def test_lock_via_patch_refuses_triggers_within_a_second(mapi):
    assert (await send(mapi, "POST", f"{ORDER_PAID}/trigger/", json={})).status_code == 201  # cached now
    patched = await send(mapi, "PATCH", f"{ORDER_PAID}/", json={"locked": True})
    assert patched.status_code == 200 and patched.json()["locked"] is True
    deadline = time.monotonic() + 1.1
    while True:
        response = await send(mapi, "POST", f"{ORDER_PAID}/trigger/", json={})
        if response.status_code == 400:
            break
        assert time.monotonic() < deadline, "a locked event was still triggered after a second"
        await asyncio.sleep(0.05)
    assert "locked" in response.json()["detail"]
    await send(mapi, "PATCH", f"{ORDER_PAID}/", json={"locked": False, "paused": True})
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the API caches ([cache] of BASE_CONFIG)
    response = await send(mapi, "POST", f"{ORDER_PAID}/trigger/", json={})
    assert response.status_code == 201 and response.json().get("paused") is True


async def test_pausing_a_project_pauses_its_triggers(mapi):
    await send(mapi, "PATCH", f"{WEB}/", json={"active": False})
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the API caches ([cache] of BASE_CONFIG)
    response = await send(mapi, "POST", f"{ORDER_PAID}/trigger/", json={})
    assert response.status_code == 400 and "project 'web' is inactive" in response.json()["detail"]


async def test_delete_refuses_while_children_exist(mapi):
    response = await send(mapi, "DELETE", f"{WEB}/")
    assert response.status_code == 409 and "applications" in response.json()["detail"]
    response = await send(mapi, "DELETE", f"{WEB}/a/blog/")
    assert response.status_code == 409 and "events" in response.json()["detail"]
    # an emptied project goes (with no dangling rows)
    await send(mapi, "POST", "/api/o/acme/p/", json=NEW_PROJECT)
    await send(mapi, "POST", "/api/o/acme/p/data/a/", json={"slug": "x", "name": "X"})
    await send(mapi, "POST", "/api/o/acme/p/data/a/x/e/", json={"slug": "y", "name": "Y"})
    assert (await send(mapi, "DELETE", "/api/o/acme/p/data/")).status_code == 409
    assert (await send(mapi, "DELETE", "/api/o/acme/p/data/a/x/e/y/")).status_code == 204
    assert (await send(mapi, "DELETE", "/api/o/acme/p/data/a/x/")).status_code == 204
    assert (await send(mapi, "DELETE", "/api/o/acme/p/data/")).status_code == 204
    assert not await Project.exists().where(Project.slug == "data")
    assert (await send(mapi, "GET", "/api/o/acme/p/data/")).status_code == 404


async def test_delete_project_refuses_active_narrowed_keys(mapi):
    await send(mapi, "POST", "/api/o/acme/p/", json=NEW_PROJECT)
    key = await send(mapi, "POST", "/api/o/acme/keys/", json={"name": "k", "project": "data", "grants": ["event:list"]})
    assert key.status_code == 201
    response = await send(mapi, "DELETE", "/api/o/acme/p/data/")
    assert response.status_code == 409 and "API keys" in response.json()["detail"]
    assert (await send(mapi, "DELETE", f"/api/o/acme/keys/{key.json()['id']}/")).status_code == 204
    assert (await send(mapi, "DELETE", "/api/o/acme/p/data/")).status_code == 204


async def test_unknown_levels_are_404_before_a_bad_body(mapi):
    for method, path in [
        ("PATCH", "/api/o/acme/p/nope/"),
        ("POST", "/api/o/acme/p/nope/a/"),
        ("PATCH", f"{WEB}/a/nope/"),
        ("POST", f"{WEB}/a/nope/e/"),
        ("PATCH", f"{SHOP}/e/nope/"),
        ("DELETE", f"{SHOP}/e/nope/"),
    ]:
        response = await send(mapi, method, path, content=b"not json")
        assert response.status_code == 404, (method, path, response.text)
        assert "unknown" in response.json()["detail"]


# The grant and scope matrix -------------------------------------------------------------------
# Each row: (key, method, path, body, status, expected). `expected` is the exact `detail` of a refusal
# (and nothing stored may change), or how a success is read back (management_support).

NO_KEY = "missing Authorization header: send 'Authorization: Key <token>'"
NO_ADMIN = "key lacks the grant admin"
NOT_ACME = "key is not valid for organization 'acme'"
CREATE_APP = ("POST", f"{WEB}/a/", {"slug": "new-app", "name": "New"})
CREATE_EVENT = ("POST", f"{SHOP}/e/", {"slug": "new-event", "name": "New"})
MATRIX = [
    (None, "POST", "/api/o/acme/p/", NEW_PROJECT, 401, NO_KEY),
    ("expired", "POST", "/api/o/acme/p/", NEW_PROJECT, 401, "API key has expired"),
    ("org-everyday", "POST", "/api/o/acme/p/", NEW_PROJECT, 403, NO_ADMIN),
    ("without-admin", "PATCH", f"{WEB}/", {"name": "x"}, 403, NO_ADMIN),
    ("without-admin", *CREATE_EVENT, 403, NO_ADMIN),
    ("globex-all", "POST", "/api/o/acme/p/", NEW_PROJECT, 403, NOT_ACME),
    ("globex-all", "PATCH", "/api/o/acme/p/nope/", {}, 403, NOT_ACME),
    ("org-admin", "POST", "/api/o/acme/p/", NEW_PROJECT, 201, ReadBack("/api/o/acme/p/data/")),
    ("org-admin", "PATCH", f"{WEB}/", {"name": "Web site", "paused": True}, 200, ReadBack(f"{WEB}/")),
    ("org-admin", "DELETE", f"{SHOP}/e/frozen/", None, 204, Gone(f"{SHOP}/e/frozen/n/", "unknown event 'frozen'")),
    # a project key manages inside its project, not the project itself nor siblings
    ("web-admin", "POST", "/api/o/acme/p/", NEW_PROJECT, 403,
     "key is not valid for this path: it is narrowed to project 'web' and cannot change organization 'acme'"),
    ("web-admin", "PATCH", f"{WEB}/", {"name": "x"}, 403, "key is narrowed to project 'web' and cannot change or delete it"),
    ("web-admin", "DELETE", f"{WEB}/", None, 403, "key is narrowed to project 'web' and cannot change or delete it"),
    ("web-admin", "PATCH", "/api/o/acme/p/mobile/", {"name": "x"}, 403, "key is not valid for project 'mobile'"),
    ("web-admin", "PATCH", "/api/o/acme/p/nope/", {}, 403, "key is not valid for project 'nope'"),
    ("web-admin", *CREATE_APP, 201, Listed(f"{WEB}/a/")),
    ("web-admin", "PATCH", f"{WEB}/a/blog/", {"paused": False, "name": "Journal"}, 200, Listed(f"{WEB}/a/")),
    ("web-admin", *CREATE_EVENT, 201, Listed(f"{SHOP}/e/")),
    ("web-admin", "POST", "/api/o/acme/p/mobile/a/ios/e/", {"slug": "x", "name": "X"}, 403,
     "key is not valid for project 'mobile'"),
    # an application key manages its events only
    ("shop-admin", *CREATE_APP, 403,
     "key is not valid for this path: it is narrowed to application 'shop' and cannot change project 'web'"),
    ("shop-admin", "PATCH", f"{SHOP}/", {"name": "x"}, 403,
     "key is narrowed to application 'shop' and cannot change or delete it"),
    ("shop-admin", "DELETE", f"{SHOP}/", None, 403, "key is narrowed to application 'shop' and cannot change or delete it"),
    ("shop-admin", "PATCH", f"{WEB}/a/blog/", {"name": "x"}, 403, "key is not valid for application 'blog'"),
    ("shop-admin", *CREATE_EVENT, 201, Listed(f"{SHOP}/e/")),
    ("shop-admin", "PATCH", f"{ORDER_PAID}/", {"name": "Paid", "locked": True}, 200, Listed(f"{SHOP}/e/")),
    ("shop-admin", "DELETE", f"{SHOP}/e/frozen/", None, 204, Gone(f"{SHOP}/e/frozen/n/", "unknown event 'frozen'")),
    ("shop-admin", "POST", f"{WEB}/a/blog/e/", {"slug": "x", "name": "X"}, 403, "key is not valid for application 'blog'"),
    ("shop-admin", "PATCH", f"{SHOP}/e/nope/", {"name": "x"}, 404, "unknown event 'nope'"),
    ("shop-admin", "DELETE", f"{SHOP}/e/nope/", None, 404, "unknown event 'nope'"),
]


@pytest.mark.parametrize(("key", "method", "path", "body", "status", "expected"), MATRIX)
async def test_grant_and_scope_matrix(mapi, key, method, path, body, status, expected):
    await check_matrix_row(mapi, key, method, path, body, status, expected)


async def test_delete_event_with_occurrence_rows_keeps_them(mapi):
    await send(mapi, "POST", f"{ORDER_PAID}/trigger/", json={})
    before = await Occurrence.count()
    assert (await send(mapi, "DELETE", f"{ORDER_PAID}/")).status_code == 409
    assert await Occurrence.count() == before
