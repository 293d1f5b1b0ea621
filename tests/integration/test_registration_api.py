"""register / unregister: an application's own users (SPEC §3.2)."""

import pytest

from clarion.notifications.tables import Subscription
from clarion.users.tables import ApplicationMembership
from events_api_support import api_settings  # noqa: F401
from membership_support import MembersApi, members  # noqa: F401
from clarion_test_support import stored_rows

SHOP = "/api/o/acme/p/web/a/shop"
REGISTER = f"{SHOP}/register/"

CAROL = {
    "username": "carol",
    "first_name": "Carol",
    "last_name": "Danvers",
    "email": "carol@example.com",
    "custom_fields": {"plan": "gold", "prefs": {"lang": "en"}},
    "active": True,
    "addresses": [
        {"value": "carol@example.com", "name": "email", "assign_to_preferred_channel": True},
        {"value": "https://hooks.example.com/carol", "assign_to_preferred_channel": True},
        {"value": "+15555550199", "name": "mobile", "assign_to_preferred_channel": True},
        {"value": "carol@work.example", "name": "work"},
    ],
    "distribution_list": "shop-news",
}


async def test_register_creates_everything(members: MembersApi) -> None:
    response = await members.post(REGISTER, key="shop-members", json=CAROL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] is True
    assert body["user"]["username"] == "carol" and body["user"]["first_name"] == "Carol"
    assert body["user"]["custom_fields"] == {}  # the membership carries the application's own fields
    assert body["membership"] == {"application": "shop", "custom_fields": CAROL["custom_fields"], "active": True}
    assert [(a["name"], a["kind"]) for a in body["addresses"]] == [
        ("email", "email"),
        ("https://hooks.example.com/carol", "url"),
        ("mobile", "phone"),
        ("work", "email"),
    ]
    # enabled channels that accept the kind: email → email, url → webhook (pager is disabled); phone → none
    assert sorted((a["address"], a["channel"]) for a in body["assignments"]) == [
        ("email", "email"),
        ("https://hooks.example.com/carol", "webhook"),
    ]
    assert body["distribution_list"]["name"] == "shop-news" and body["distribution_list"]["application"] == "shop"
    list_id = body["distribution_list"]["id"]
    listed = (await members.get(f"/api/o/acme/p/web/d/{list_id}/m/", key="shop-members")).json()
    assert sorted(m["channel"] for m in listed) == ["email", "webhook"]


async def test_register_is_idempotent_and_merges_membership_fields(members: MembersApi) -> None:
    first = (await members.post(REGISTER, json=CAROL)).json()
    again = await members.post(
        REGISTER,
        json={**CAROL, "first_name": "Ignored", "custom_fields": {"prefs": {"tz": "UTC"}}, "active": False},
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["created"] is False and body["user"]["first_name"] == "Carol"
    assert body["membership"]["custom_fields"] == {"plan": "gold", "prefs": {"lang": "en", "tz": "UTC"}}
    assert body["membership"]["active"] is False
    assert [a["id"] for a in body["addresses"]] == [a["id"] for a in first["addresses"]]
    assert [a["id"] for a in body["assignments"]] == [a["id"] for a in first["assignments"]]
    assert body["distribution_list"]["id"] == first["distribution_list"]["id"]
    assert len((await members.get(f"/api/o/acme/p/web/d/{body['distribution_list']['id']}/m/")).json()) == 2
    assert await ApplicationMembership.count() == 1


async def test_register_existing_user_minimal_body(members: MembersApi) -> None:
    response = await members.post(REGISTER, json={"username": "alice"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] is False and body["addresses"] == [] and body["distribution_list"] is None
    assert body["user"]["email"] == "alice@example.com"


async def test_register_reuses_an_address_with_the_same_value(members: MembersApi) -> None:
    body = {"username": "alice", "addresses": [{"value": "alice@example.com", "assign_to_preferred_channel": True}],
            "distribution_list": "shop-fans"}
    response = (await members.post(REGISTER, json=body)).json()
    assert [a["name"] for a in response["addresses"]] == ["email"]
    assert [a["channel"] for a in response["assignments"]] == ["email"]
    assert response["distribution_list"]["application"] == "shop"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "username"),
        ({"username": "x", "extra": 1}, 400, "extra"),
        ({"username": "x", "addresses": [{"name": "n"}]}, 400, "addresses[0].value"),
        ({"username": "x", "addresses": [{"value": "v", "assign": True}]}, 400, "addresses[0].assign"),
        ({"username": "x", "custom_fields": "no"}, 400, "custom_fields"),
        ({"username": "x", "distribution_list": "ops"}, 409, "distribution_list"),
        ({"username": "alice", "addresses": [{"value": "new@example.com", "name": "email"}]}, 409, "addresses[0].name"),
    ],
)
async def test_register_errors_name_the_field(members: MembersApi, body: dict, status: int, field: str) -> None:
    response = await members.post(REGISTER, json=body)
    assert response.status_code == status
    assert response.json()["detail"].startswith(f"{field}:"), response.json()


@pytest.mark.parametrize("email", ["carol", "carol@", "@example.com", "carol at example.com", "carol@exa mple.com"])
async def test_register_refuses_an_email_that_is_not_a_mailbox(members: MembersApi, email: str) -> None:
    response = await members.post(REGISTER, json={**CAROL, "email": email})
    assert response.status_code == 400
    assert response.json()["detail"] == f"email: not an e-mail address (expected local@domain): {email!r}"
    assert (await members.get("/api/o/acme/u/carol/")).status_code == 404
    assert await ApplicationMembership.count() == 0


async def test_a_failed_register_changes_nothing(members: MembersApi) -> None:
    await members.post(REGISTER, json={"username": "zoe", "distribution_list": "ops"})
    assert (await members.get("/api/o/acme/u/zoe/")).status_code == 404


async def test_unregister_removes_membership_pinned_lists_and_subscriptions(members: MembersApi) -> None:
    registered = (await members.post(REGISTER, json=CAROL)).json()
    email = next(a["id"] for a in registered["assignments"] if a["channel"] == "email")
    ops = await members.list_id("ops")
    await members.post(f"/api/o/acme/p/web/d/{ops}/add/", json=["carol@example.com"])
    notification = await members.notification_id("tell ops")
    subscribed = await members.post(f"{SHOP}/n/{notification}/subscribe/", json={"assignment": email})
    assert subscribed.status_code == 201
    response = await members.post(f"{SHOP}/unregister/carol/", key="shop-members", json={})
    assert response.status_code == 200, response.text
    # `deleted` counts list memberships removed (the source system's count): email and webhook in shop-news
    assert response.json() == {"deleted": 2, "memberships": 1, "subscriptions": 1}
    assert await Subscription.count() == 0
    assert await ApplicationMembership.count() == 0
    news = registered["distribution_list"]["id"]
    assert (await members.get(f"/api/o/acme/p/web/d/{news}/m/")).json() == []
    # the unpinned list keeps the user; the user and addresses stay
    assert [m["user"] for m in (await members.get(f"/api/o/acme/p/web/d/{ops}/m/")).json()] == ["alice", "carol"]
    assert (await members.get("/api/o/acme/u/carol/")).status_code == 200
    again = await members.post(f"{SHOP}/unregister/carol")
    assert again.json() == {"deleted": 0, "memberships": 0, "subscriptions": 0}


async def test_unregister_unknown_user_or_app_is_404(members: MembersApi) -> None:
    assert (await members.post(f"{SHOP}/unregister/ghost/")).status_code == 404
    assert (await members.post("/api/o/acme/p/web/a/nope/unregister/alice/")).status_code == 404
    assert (await members.post("/api/o/acme/p/web/a/nope/register/", content=b"junk")).status_code == 404


async def test_registration_grants_and_scope(members: MembersApi) -> None:
    before = await stored_rows()
    for path in (REGISTER, f"{SHOP}/unregister/alice/"):
        for key in ("lacks-application:users", "readonly-members"):
            response = await members.post(path, key=key, json={"username": "alice"})
            assert (response.status_code, response.json()["detail"]) == (403, "key lacks the grant application:users")
        assert (await members.client.post(path, json={"username": "alice"})).status_code == 401
    blog = "/api/o/acme/p/web/a/blog/register/"
    response = await members.post(blog, key="shop-members", json={"username": "alice"})
    assert (response.status_code, response.json()["detail"]) == (403, "key is not valid for application 'blog'")
    response = await members.post("/api/o/globex/p/hq/a/portal/register/", json={"username": "a"})
    assert (response.status_code, response.json()["detail"]) == (403, "key is not valid for organization 'globex'")
    assert await stored_rows() == before  # nothing refused was written
    registered = await members.post(blog, key="web-members", json={"username": "alice"})
    assert registered.status_code == 200
    assert await ApplicationMembership.count() == 1 and registered.json()["membership"]["application"] == "blog"
