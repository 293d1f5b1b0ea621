"""Distribution lists, members, add; subscribe/unsubscribe (SPEC §3.2)."""

import pytest

from clarion_test_support import stored_rows
from events_api_support import api_settings  # noqa: F401
from membership_support import MembersApi, members  # noqa: F401

D = "/api/o/acme/p/web/d"
SHOP = "/api/o/acme/p/web/a/shop"


async def test_project_key_sees_every_list_application_key_its_pinned_ones(members: MembersApi) -> None:
    for key in ("org-members", "web-members"):
        lists = (await members.get(f"{D}/", key=key)).json()
        assert [(row["name"], row["application"]) for row in lists] == [
            ("ops", None),
            ("shop-fans", "shop"),
            ("blog-readers", "blog"),
        ]
    shop = (await members.get(f"{D}/", key="shop-members")).json()
    assert [row["name"] for row in shop] == ["shop-fans"]
    ops = await members.list_id("ops")
    assert (await members.get(f"{D}/{ops}/", key="shop-members")).status_code == 404
    assert (await members.get(f"{D}/{ops}/m/", key="shop-members")).status_code == 404
    assert (await members.post(f"{D}/{ops}/add/", key="shop-members", json=[])).status_code == 404


async def test_pagination(members: MembersApi) -> None:
    first = await members.get(f"{D}?limit=2")
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["link"]
    cursor = first.headers["link"].split("cursor=")[1].split("&")[0]
    rest = await members.get(f"{D}/?limit=2&cursor={cursor}")
    assert [row["name"] for row in rest.json()] == ["blog-readers"] and "link" not in rest.headers
    assert (await members.get(f"{D}/?cursor=zzz")).json()["detail"].startswith("cursor:")


async def test_read_list_and_members(members: MembersApi) -> None:
    ops = await members.list_id("ops")
    assert (await members.get(f"{D}/{ops}")).json() == {"id": ops, "name": "ops", "application": None}
    listed = (await members.get(f"{D}/{ops}/m/")).json()
    assert len(listed) == 1
    member = listed[0]
    assert member["user"] == "alice" and member["address"] == "alice@example.com"
    assert member["channel"] == "email" and member["address_name"] == "email" and member["active"] is True
    assert member["id"] == await members.assignment_id("alice", "email", "email")
    assert (await members.get(f"{D}/999999/")).status_code == 404
    assert (await members.get(f"{D}/999999/m/")).status_code == 404
    assert (await members.get("/api/o/acme/p/nowhere/d/")).status_code == 404


async def test_create_lists(members: MembersApi) -> None:
    created = await members.post(f"{D}/", json={"name": "vip"})
    assert created.status_code == 201 and created.json()["application"] is None
    pinned = await members.post(f"{D}/", json={"name": "shop-vip", "application": "shop"})
    assert pinned.json()["application"] == "shop"
    by_app_key = await members.post(f"{D}/", key="shop-members", json={"name": "app-made"})
    assert by_app_key.status_code == 201 and by_app_key.json()["application"] == "shop"
    assert "app-made" in [row["name"] for row in (await members.get(f"{D}/", key="shop-members")).json()]
    other = await members.post(f"{D}/", key="shop-members", json={"name": "x", "application": "blog"})
    assert other.status_code == 403
    duplicate = await members.post(f"{D}/", json={"name": "ops"})
    assert duplicate.status_code == 409 and duplicate.json()["detail"].startswith("name:")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x", "application": "nope"}, "application"),
     ({"name": "x", "colour": "red"}, "colour"), ({"name": "x", "application": "Bad Slug"}, "application")],
)
async def test_create_list_bad_body(members: MembersApi, body: dict, field: str) -> None:
    response = await members.post(f"{D}/", json=body)
    assert response.status_code == 400 and response.json()["detail"].startswith(f"{field}:"), response.json()


async def members_of(members: MembersApi, list_id: int) -> list[tuple[str, str, str]]:
    """The list's members as read back: (user, address value, channel), in the list's order."""
    return [(m["user"], m["address"], m["channel"]) for m in (await members.get(f"{D}/{list_id}/m/")).json()]


async def test_add_members_by_address_value(members: MembersApi) -> None:
    ops = await members.list_id("ops")
    values = ["alice@example.com", "https://hooks.example.com/alice", "bob@example.com", "+15555550100"]
    response = await members.post(f"{D}/{ops}/add/", json=values)
    assert response.status_code == 200, response.text
    result = response.json()
    assert sorted((m["user"], m["channel"]) for m in result["added"]) == [("alice", "webhook"), ("bob", "email")]
    assert result["already"] == [await members.assignment_id("alice", "email", "email")]
    assert result["unassigned"] == ["+15555550100"]
    assert set(result) == {"added", "already", "unassigned"}
    assert await members_of(members, ops) == [
        ("alice", "alice@example.com", "email"),
        ("alice", "https://hooks.example.com/alice", "webhook"),
        ("bob", "bob@example.com", "email"),
    ]
    again = (await members.post(f"{D}/{ops}/add", json=values)).json()
    assert again["added"] == [] and len(again["already"]) == 3
    assert len(await members_of(members, ops)) == 3


async def test_add_is_all_or_nothing_naming_every_unknown_value(members: MembersApi) -> None:
    """As in the source system: one value that is no known address refuses the whole call."""
    ops = await members.list_id("ops")
    before = await members_of(members, ops)
    values = ["bob@example.com", "who@nowhere", "https://hooks.example.com/alice", "+1000"]
    response = await members.post(f"{D}/{ops}/add/", json=values)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == (
        "body: no address of organization 'acme' has the value 'who@nowhere', '+1000' (nothing was added)"
    )
    assert await members_of(members, ops) == before
    # the known values alone go in
    assert (await members.post(f"{D}/{ops}/add/", json=values[::2])).status_code == 200
    assert len(await members_of(members, ops)) == len(before) + 2


async def test_add_takes_every_assignment_of_an_address(members: MembersApi) -> None:
    await members.post("/api/o/acme/u/alice/assignments/", json={"address": "hook", "channel": "pager"})
    fans = await members.list_id("shop-fans")
    result = (await members.post(f"{D}/{fans}/add/", key="shop-members", json=["https://hooks.example.com/alice"])).json()
    assert sorted(m["channel"] for m in result["added"]) == ["pager", "webhook"]
    assert sorted(channel for _, _, channel in await members_of(members, fans)) == ["email", "pager", "webhook"]


async def test_add_does_not_reach_other_organizations(members: MembersApi) -> None:
    ops = await members.list_id("ops")
    before = await members_of(members, ops)
    response = await members.post(f"{D}/{ops}/add/", json=["alice@globex.example"])
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "body: no address of organization 'acme' has the value 'alice@globex.example' (nothing was added)"
    )
    assert await members_of(members, ops) == before


@pytest.mark.parametrize("body", [b'{"a": 1}', b"[1]", b"nope", b'[""]'])
async def test_add_bad_body(members: MembersApi, body: bytes) -> None:
    ops = await members.list_id("ops")
    response = await members.post(f"{D}/{ops}/add/", content=body)
    assert response.status_code == 400
    assert response.json()["detail"].split(":")[0] in ("body", "[0]"), response.json()


async def test_list_grants_and_scope(members: MembersApi) -> None:
    ops = await members.list_id("ops")
    for path in (f"{D}/", f"{D}/{ops}/", f"{D}/{ops}/m/"):
        response = await members.get(path, key="lacks-distributionlist:read")
        assert (response.status_code, response.json()["detail"]) == (403, "key lacks the grant distributionlist:read")
        assert (await members.client.get(path)).status_code == 401
    before = await stored_rows()
    for path, body in ((f"{D}/", {"name": "n"}), (f"{D}/{ops}/add/", ["bob@example.com"])):
        response = await members.post(path, key="lacks-distributionlist:write", json=body)
        assert response.json()["detail"] == "key lacks the grant distributionlist:write"
        response = await members.post(path, key="readonly-members", json=body)
        assert response.json()["detail"] == "key lacks the grant distributionlist:write"
    assert await stored_rows() == before  # nothing refused was written
    response = await members.get("/api/o/acme/p/mobile/d/", key="web-members")
    assert response.json()["detail"] == "key is not valid for project 'mobile'"
    response = await members.get("/api/o/acme/p/nowhere/d/", key="shop-members")
    assert response.json()["detail"] == "key is not valid for project 'nowhere'"
    response = await members.get("/api/o/globex/p/hq/d/")
    assert response.json()["detail"] == "key is not valid for organization 'globex'"


# subscriptions ------------------------------------------------------------------------------------


async def test_subscribe_and_unsubscribe(members: MembersApi) -> None:
    notification = await members.notification_id("tell ops")
    bob = await members.assignment_id("bob", "email", "email")
    path = f"{SHOP}/n/{notification}/subscribe/"
    created = await members.post(path, key="shop-members", json={"assignment": bob, "active": True})
    assert created.status_code == 201, created.text
    assert created.json() == {"id": created.json()["id"], "notification": notification, "assignment": bob, "active": True}
    updated = await members.post(path.rstrip("/"), key="shop-members", json={"assignment": bob, "active": False})
    assert updated.status_code == 200 and updated.json()["active"] is False
    gone = await members.delete(path, key="shop-members", json={"assignment": bob})
    assert gone.status_code == 200 and gone.json() == {"deleted": 1}
    await members.post(path, json={"assignment": bob})
    by_query = await members.delete(f"{path}?assignment={bob}")
    assert by_query.json() == {"deleted": 1}
    assert (await members.delete(f"{path}?assignment={bob}")).json() == {"deleted": 0}


async def test_subscribe_errors(members: MembersApi) -> None:
    notification = await members.notification_id("tell ops")
    readers = await members.notification_id("tell readers")
    bob = await members.assignment_id("bob", "email", "email")
    path = f"{SHOP}/n/{notification}/subscribe/"
    # a notification of another application's event is 404, before the body
    assert (await members.post(f"{SHOP}/n/{readers}/subscribe/", content=b"nope")).status_code == 404
    assert (await members.post(f"{SHOP}/n/999999/subscribe/", json={"assignment": bob})).status_code == 404
    for body, field in [({}, "assignment"), ({"assignment": "x"}, "assignment"), ({"assignment": 999999}, "assignment"),
                        ({"assignment": bob, "extra": 1}, "extra")]:
        response = await members.post(path, json=body)
        assert response.status_code == 400 and response.json()["detail"].startswith(f"{field}:"), response.json()
    for query in ("", "?assignment=x"):
        response = await members.delete(f"{path}{query}")
        assert response.status_code == 400 and response.json()["detail"].startswith("assignment:")
    assert (await members.post(path, key="lacks-application:users", json={"assignment": bob})).status_code == 403
    assert (await members.delete(path, key="lacks-application:users", json={"assignment": bob})).status_code == 403
    blog = f"/api/o/acme/p/web/a/blog/n/{readers}/subscribe/"
    assert (await members.post(blog, key="shop-members", json={"assignment": bob})).status_code == 403
    assert (await members.client.post(path, json={"assignment": bob})).status_code == 401
