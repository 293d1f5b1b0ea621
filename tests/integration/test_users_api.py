"""Users, addresses and assignments (SPEC §3.2, §3.3): happy paths, 400/401/403/404/409."""

import pytest

from events_api_support import api_settings  # noqa: F401
from membership_support import MembersApi, members  # noqa: F401
from clarion_test_support import stored_rows

U = "/api/o/acme/u"


async def test_list_users_is_a_bare_paginated_array(members: MembersApi) -> None:
    response = await members.get(f"{U}/")
    assert response.status_code == 200
    users = response.json()
    assert [user["username"] for user in users] == ["alice", "bob"]
    alice = users[0]
    assert alice["email"] == "alice@example.com"
    assert alice["is_active"] is True and alice["locked"] is False
    assert alice["custom_fields"] == {"team": "ops", "prefs": {"lang": "en", "tz": "UTC"}}
    first = await members.get(f"{U}?limit=1")
    assert [user["username"] for user in first.json()] == ["alice"]
    assert 'rel="next"' in first.headers["link"]
    assert (await members.get(f"{U}/?limit=0")).json()["detail"].startswith("limit")


async def test_users_of_another_organization_are_not_listed(members: MembersApi) -> None:
    response = await members.get("/api/o/globex/u/", key="globex-all")
    assert [user["username"] for user in response.json()] == ["alice"]
    assert response.json()[0]["email"] == "alice@globex.example"


async def test_create_read_user(members: MembersApi) -> None:
    body = {"username": "carol", "email": "carol@example.com", "first_name": "Carol", "custom_fields": {"a": 1}}
    created = await members.post(f"{U}/", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "carol"
    read = await members.get(f"{U}/carol")
    assert read.status_code == 200
    assert read.json()["custom_fields"] == {"a": 1}
    assert read.json()["first_name"] == "Carol" and read.json()["last_name"] == ""


async def test_create_without_username_uses_the_email(members: MembersApi) -> None:
    created = await members.post(f"{U}/", json={"email": "dan@example.com", "custom_fields": None})
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "dan@example.com"
    assert (await members.get(f"{U}/dan%40example.com/")).json()["email"] == "dan@example.com"


async def test_an_email_in_the_path_finds_the_user_with_it(members: MembersApi) -> None:
    assert (await members.get(f"{U}/alice%40example.com/")).json()["username"] == "alice"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "username"),
        ({"username": "x", "nickname": "y"}, "nickname"),
        ({"username": "has space"}, "username"),
        ({"username": "x", "custom_fields": []}, "custom_fields"),
        ({"username": "x", "locked": "yes"}, "locked"),
        ({"username": "x", "email": "e" * 300}, "email"),
        ({"username": "x", "email": "not-a-mailbox"}, "email"),
        ({"email": "two@at@example.com"}, "email"),
    ],
)
async def test_create_user_bad_body_names_the_field(members: MembersApi, body: dict, field: str) -> None:
    response = await members.post(f"{U}/", json=body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:"), response.json()


async def test_create_user_not_json(members: MembersApi) -> None:
    response = await members.post(f"{U}/", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body:")


async def test_duplicate_username_is_409(members: MembersApi) -> None:
    response = await members.post(f"{U}/", json={"username": "alice"})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("username:")


async def test_unknown_user_is_404_before_a_bad_body(members: MembersApi) -> None:
    assert (await members.get(f"{U}/nobody/")).status_code == 404
    response = await members.patch(f"{U}/nobody/", content=b"{nope")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]
    assert (await members.post(f"{U}/nobody/address/", json={})).status_code == 404


async def test_patch_changes_only_given_fields_and_ignores_custom_fields_by_default(members: MembersApi) -> None:
    response = await members.patch(f"{U}/alice/", json={"first_name": "Al", "custom_fields": {"team": "x"}})
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["first_name"] == "Al" and user["last_name"] == "Liddell"
    assert user["custom_fields"] == {"team": "ops", "prefs": {"lang": "en", "tz": "UTC"}}


@pytest.mark.parametrize(
    ("mode", "given", "expected"),
    [
        ("ignore", {"team": "dev"}, {"team": "ops", "prefs": {"lang": "en", "tz": "UTC"}}),
        ("merge", {"prefs": {"lang": "it"}, "x": 1}, {"team": "ops", "prefs": {"lang": "it", "tz": "UTC"}, "x": 1}),
        ("override", {"prefs": {"lang": "it"}}, {"team": "ops", "prefs": {"lang": "it"}}),
        ("remove", {"prefs": {"tz": None}, "team": None, "absent": 1}, {"prefs": {"lang": "en"}}),
        ("remove", {"prefs": {"tz": 0, "lang": 0}}, {"team": "ops"}),
        ("rewrite", {"only": True}, {"only": True}),
    ],
)
async def test_custom_fields_modes(members: MembersApi, mode: str, given: dict, expected: dict) -> None:
    in_body = await members.patch(f"{U}/alice/", json={"custom_fields": given, "_mode": mode})
    assert in_body.status_code == 200, in_body.text
    assert in_body.json()["custom_fields"] == expected
    # the same through ?_mode= on bob (who starts from the same fields)
    await members.patch(f"{U}/bob/", json={"custom_fields": USERS_FIELDS, "_mode": "rewrite"})
    in_query = await members.patch(f"{U}/bob/?_mode={mode}", json={"custom_fields": given})
    assert in_query.json()["custom_fields"] == expected


USERS_FIELDS = {"team": "ops", "prefs": {"lang": "en", "tz": "UTC"}}


async def test_body_mode_wins_over_query_mode(members: MembersApi) -> None:
    response = await members.patch(f"{U}/alice/?_mode=rewrite", json={"custom_fields": {"a": 1}, "_mode": "ignore"})
    assert response.json()["custom_fields"] == USERS_FIELDS


async def test_bad_mode_names_the_field(members: MembersApi) -> None:
    in_body = await members.patch(f"{U}/alice/", json={"_mode": "smash"})
    assert in_body.status_code == 400 and in_body.json()["detail"].startswith("_mode:")
    in_query = await members.patch(f"{U}/alice/?_mode=smash", json={})
    assert in_query.status_code == 400 and in_query.json()["detail"].startswith("_mode:")


async def test_patch_null_custom_fields_changes_nothing(members: MembersApi) -> None:
    response = await members.patch(f"{U}/alice/", json={"custom_fields": None, "_mode": "rewrite"})
    assert response.json()["custom_fields"] == USERS_FIELDS


async def test_patch_unknown_field_and_username_change_refused(members: MembersApi) -> None:
    response = await members.patch(f"{U}/alice/", json={"username": "alicia"})
    assert response.status_code == 400
    assert response.json()["detail"] == "username: unknown field"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_an_email_that_is_not_a_mailbox_changes_nothing(members: MembersApi, method: str) -> None:
    before = (await members.get(f"{U}/alice/")).json()
    response = await members.request(method, f"{U}/alice/", json={"email": "alice(at)example.com", "first_name": "A"})
    assert response.status_code == 400
    assert response.json()["detail"] == "email: not an e-mail address (expected local@domain): 'alice(at)example.com'"
    assert (await members.get(f"{U}/alice/")).json() == before
    # "" means no e-mail
    cleared = await members.request(method, f"{U}/alice/", json={"email": ""})
    assert cleared.status_code == 200 and (await members.get(f"{U}/alice/")).json()["email"] == ""


async def test_put_replaces_fields(members: MembersApi) -> None:
    response = await members.put(f"{U}/alice/", json={"email": "a@example.org", "locked": True})
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["email"] == "a@example.org" and user["first_name"] == "" and user["last_name"] == ""
    assert user["locked"] is True and user["is_active"] is False
    assert user["custom_fields"] == USERS_FIELDS  # _mode ignore by default
    rewritten = await members.put(f"{U}/alice/?_mode=rewrite", json={"custom_fields": {}})
    assert rewritten.json()["custom_fields"] == {}


async def test_addresses(members: MembersApi) -> None:
    listed = await members.get(f"{U}/alice/address/")
    assert [(a["name"], a["kind"]) for a in listed.json()] == [("email", "email"), ("hook", "url")]
    for name, value, kind in [
        ("sms", "+393331234567", "phone"),
        ("work", "alice@work.example", "email"),
        ("other", "pigeon", "other"),
    ]:
        created = await members.post(f"{U}/alice/address", json={"name": name, "value": value})
        assert created.status_code == 201, created.text
        assert created.json()["kind"] == kind and created.json()["value"] == value
    assert len((await members.get(f"{U}/alice/address/")).json()) == 5


async def test_address_errors(members: MembersApi) -> None:
    duplicate = await members.post(f"{U}/alice/address/", json={"name": "email", "value": "x@example.com"})
    assert duplicate.status_code == 409 and duplicate.json()["detail"].startswith("name:")
    for body, field in [({"name": "x"}, "value"), ({"value": "v"}, "name"), ({"name": "", "value": "v"}, "name"),
                        ({"name": "x", "value": "v", "kind": "fax"}, "kind"), ({"name": "x", "value": "v", "kind": "email"}, "value"),
                        ({"name": "x", "value": "tgarm://123:abc/1", "kind": "apprise"}, "value"), ({"name": "x", "value": "v", "kind": 3}, "kind")]:
        response = await members.post(f"{U}/alice/address/", json=body)
        assert response.status_code == 400 and response.json()["detail"].startswith(f"{field}:"), (body, response.text)


async def test_assignments(members: MembersApi) -> None:
    listed = (await members.get(f"{U}/alice/assignments/")).json()
    assert {(a["address"], a["channel"]) for a in listed} == {("email", "email"), ("hook", "webhook")}
    secret = "whsec_YWxpY2Utc2lnbnMtaGVyLXdlYmhvb2tzLXdpdGgtaXQ="  # 32 bytes
    created = await members.post(f"{U}/alice/assignments/", json={"address": "hook", "channel": "pager", "secret": secret})
    assert created.status_code == 201, created.text
    assignment = created.json()
    assert assignment["channel"] == "pager" and assignment["value"] == "https://hooks.example.com/alice"
    assert "secret" not in assignment
    again = await members.post(f"{U}/alice/assignments/", json={"address": "hook", "channel": "pager"})
    assert again.status_code == 409 and again.json()["detail"].startswith("channel:")
    deleted = await members.delete(f"{U}/alice/assignments/{assignment['id']}/")
    assert deleted.status_code == 204
    assert (await members.delete(f"{U}/alice/assignments/{assignment['id']}")).status_code == 404
    assert (await members.delete(f"{U}/bob/assignments/{listed[0]['id']}/")).status_code == 404  # not bob's


async def test_deleting_an_assignment_with_deliveries_keeps_their_history(members: MembersApi) -> None:
    from clarion.distribution.tables import DistributionListMember
    from clarion.notifications.tables import Notification, Subscription
    from clarion.ids import new_id
    from clarion.occurrences.tables import Delivery, Occurrence

    listed = (await members.get(f"{U}/alice/assignments/")).json()
    email = next(a for a in listed if a["channel"] == "email")
    notification = await Notification.select(Notification.id, Notification.event).first()
    assert notification is not None
    occurrence = new_id()
    await Occurrence.insert(Occurrence(id=occurrence, event=notification["event"], status="completed"))
    await Delivery.insert(Delivery(id=new_id(), occurrence=occurrence, assignment=email["id"],
                                   notification=notification["id"], channel="email", address="a", status="delivered"))
    await Subscription.insert(Subscription(notification=notification["id"], assignment=email["id"]))

    assert (await members.delete(f"{U}/alice/assignments/{email['id']}/")).status_code == 204
    assert await Delivery.count().where(Delivery.assignment == email["id"]) == 1
    assert await DistributionListMember.count().where(DistributionListMember.assignment == email["id"]) == 0
    assert await Subscription.count().where(Subscription.assignment == email["id"]) == 0
    kept = next(a for a in (await members.get(f"{U}/alice/assignments/")).json() if a["id"] == email["id"])
    assert kept["active"] is False

    revived = await members.post(f"{U}/alice/assignments/", json={"address": "email", "channel": "email"})
    assert revived.status_code == 201 and revived.json()["id"] == email["id"] and revived.json()["active"] is True


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"address": "hook", "channel": "sms"}, "channel", "not configured"),
        ({"address": "email", "channel": "webhook"}, "channel", "cannot reach a email"),
        ({"address": "hook", "channel": "email"}, "channel", "cannot reach a url"),
        ({"address": "fax", "channel": "email"}, "address", "no address"),
        ({"address": "email"}, "channel", "required"),
        ({"address": "email", "channel": "email", "secret": ""}, "secret", ""),
    ],
)
async def test_assignment_bad_body(members: MembersApi, body: dict, field: str, says: str) -> None:
    response = await members.post(f"{U}/alice/assignments/", json=body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:") and says in response.json()["detail"], response.json()


SECRET_EXPECTED = "secret: expected 'whsec_' followed by the base64 of a 24 to 64 byte key"


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("not-a-secret", "it does not start with 'whsec_'"),
        ("whsec_not base64!", "what follows 'whsec_' is not base64"),
        ("whsec_QUJD", "it decodes to 3 bytes"),
        ("whsec_" + "QUJD" * 7 + "QQ==", "it decodes to 22 bytes"),
        ("whsec_" + "QUJD" * 22, "it decodes to 66 bytes"),
    ],
)
async def test_a_webhook_assignment_secret_is_checked_when_it_is_created(
    members: MembersApi, secret: str, why: str
) -> None:
    before = (await members.get(f"{U}/alice/assignments/")).json()
    response = await members.post(f"{U}/alice/assignments/", json={"address": "hook", "channel": "pager", "secret": secret})
    assert response.status_code == 400
    assert response.json()["detail"] == f"{SECRET_EXPECTED} ({why})"
    assert secret not in response.text
    assert (await members.get(f"{U}/alice/assignments/")).json() == before


async def test_secret_bounds_are_24_and_64_bytes(members: MembersApi) -> None:
    import base64

    for channel, key in (("pager", b"k" * 24), ("webhook", b"k" * 64)):
        if channel == "webhook":
            hook = await members.assignment_id("alice", "hook", "webhook")
            assert (await members.delete(f"{U}/alice/assignments/{hook}/")).status_code == 204
        body = {"address": "hook", "channel": channel, "secret": "whsec_" + base64.b64encode(key).decode()}
        response = await members.post(f"{U}/alice/assignments/", json=body)
        assert response.status_code == 201, response.text


# grants and scope ---------------------------------------------------------------------------------

READS = [f"{U}/", f"{U}/alice/", f"{U}/alice/address/"]
WRITES = [("POST", f"{U}/", {"username": "zed"}), ("PATCH", f"{U}/alice/", {"first_name": "Z"}),
          ("PUT", f"{U}/alice/", {}), ("POST", f"{U}/alice/address/", {"name": "z", "value": "z@example.com"}),
          ("POST", f"{U}/alice/assignments/", {"address": "email", "channel": "email"})]


async def test_no_or_bad_key_is_401(members: MembersApi) -> None:
    response = await members.client.get(f"{U}/")
    assert response.json()["detail"] == "missing Authorization header: send 'Authorization: Key <token>'"
    for key, detail in (("expired", "API key has expired"), ("inactive", "API key is inactive")):
        response = await members.get(f"{U}/", key=key)
        assert (response.status_code, response.json()["detail"]) == (401, detail)
    response = await members.client.get(f"{U}/", headers={"Authorization": "Key nope"})
    assert (response.status_code, response.json()["detail"]) == (401, "invalid API key")


async def test_grants(members: MembersApi) -> None:
    for path in READS:
        response = await members.get(path, key="lacks-user:read")
        assert (response.status_code, response.json()["detail"]) == (403, "key lacks the grant user:read")
        assert (await members.get(path, key="lacks-user:write")).status_code == 200
    before = await stored_rows()
    for method, path, body in WRITES:
        for key in ("lacks-user:write", "readonly-members"):
            response = await members.request(method, path, key, json=body)
            assert (response.status_code, response.json()["detail"]) == (403, "key lacks the grant user:write")
    assert await stored_rows() == before  # no refused write changed anything
    response = await members.get(f"{U}/alice/assignments/", key="readonly-members")
    assert (response.status_code, response.json()["detail"]) == (403, "key lacks the grant user:write")


async def test_narrowed_keys_reach_the_organizations_users(members: MembersApi) -> None:
    for key in ("web-members", "shop-members"):
        assert {"alice", "bob"} <= {u["username"] for u in (await members.get(f"{U}/", key=key)).json()}
        created = await members.post(f"{U}/", key=key, json={"username": f"by-{key}"})
        assert created.status_code == 201, created.text
        patched = await members.patch(f"{U}/by-{key}/", key=key, json={"last_name": "X"})
        assert patched.status_code == 200
        address = await members.post(f"{U}/by-{key}/address/", key=key, json={"name": "e", "value": "e@example.com"})
        assert address.status_code == 201
        assigned = await members.post(f"{U}/by-{key}/assignments/", key=key, json={"address": "e", "channel": "email"})
        assert assigned.status_code == 201
        # read back with an organization key: what the narrowed key wrote is stored
        assert (await members.get(f"{U}/by-{key}/")).json() == patched.json()
        assert patched.json()["last_name"] == "X"
        assert (await members.get(f"{U}/by-{key}/address/")).json() == [address.json()]
        assert (await members.get(f"{U}/by-{key}/assignments/")).json() == [assigned.json()]


async def test_other_organization_is_403_even_for_unknown_users(members: MembersApi) -> None:
    for path, organization in (
        ("/api/o/globex/u/", "globex"), ("/api/o/globex/u/alice/", "globex"), ("/api/o/nowhere/u/ghost/", "nowhere")
    ):
        response = await members.get(path)
        assert response.json()["detail"] == f"key is not valid for organization {organization!r}"
    before = await stored_rows()
    response = await members.post("/api/o/globex/u/", json={"username": "x"})
    assert (response.status_code, response.json()["detail"]) == (403, "key is not valid for organization 'globex'")
    assert await stored_rows() == before


async def test_concurrent_creates_of_one_user_give_one_201_and_409s(members: MembersApi) -> None:
    import asyncio

    body = {"username": "racer", "email": "racer@example.com"}
    responses = await asyncio.gather(*(members.post(f"{U}/", json=body) for _ in range(6)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    assert all("detail" in response.json() for response in responses if response.status_code == 409)


# a narrowed key deletes an assignment only inside its scope ---------------------------------------


async def _membership_counts(assignment: int) -> tuple[int, int]:
    from clarion.distribution.tables import DistributionListMember
    from clarion.notifications.tables import Subscription

    members = await DistributionListMember.count().where(DistributionListMember.assignment == assignment)
    subscriptions = await Subscription.count().where(Subscription.assignment == assignment)
    return members, subscriptions


async def _refused(members: MembersApi, username: str, assignment: int, key: str, scope: str) -> None:
    response = await members.delete(f"{U}/{username}/assignments/{assignment}/", key=key)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"assignment {assignment} is used by 1 distribution list(s) or subscription(s) outside {scope}:"
        " only a key whose scope covers them can delete it"
    )


async def test_an_application_key_cannot_empty_a_list_outside_its_application(members: MembersApi) -> None:
    email = await members.assignment_id("alice", "email", "email")  # in "ops": project-wide, not pinned to shop
    await _refused(members, "alice", email, "shop-members", "application 'shop'")
    assert await _membership_counts(email) == (1, 0)
    assert {a["id"] for a in (await members.get(f"{U}/alice/assignments/")).json()} >= {email}
    # the project key covers "ops"
    assert (await members.delete(f"{U}/alice/assignments/{email}/", key="web-members")).status_code == 204
    assert await _membership_counts(email) == (0, 0)


async def test_an_application_key_deletes_what_only_its_application_uses(members: MembersApi) -> None:
    bob = await members.assignment_id("bob", "email", "email")  # in "shop-fans", pinned to shop
    hook = await members.assignment_id("alice", "hook", "webhook")  # in no list
    assert (await members.delete(f"{U}/bob/assignments/{bob}/", key="shop-members")).status_code == 204
    assert (await members.delete(f"{U}/alice/assignments/{hook}/", key="shop-members")).status_code == 204
    assert await _membership_counts(bob) == (0, 0)
    remaining = {a["id"] for a in (await members.get(f"{U}/bob/assignments/")).json()}
    assert bob not in remaining


async def test_a_subscription_to_another_applications_notification_blocks_the_delete(members: MembersApi) -> None:
    bob = await members.assignment_id("bob", "email", "email")
    readers = await members.notification_id("tell readers")  # an event of application blog
    subscribed = await members.post(f"/api/o/acme/p/web/a/blog/n/{readers}/subscribe/", json={"assignment": bob})
    assert subscribed.status_code == 201, subscribed.text
    await _refused(members, "bob", bob, "shop-members", "application 'shop'")
    assert await _membership_counts(bob) == (1, 1)
    # blog lies inside project web: the project key may delete it
    assert (await members.delete(f"{U}/bob/assignments/{bob}/", key="web-members")).status_code == 204
    assert await _membership_counts(bob) == (0, 0)


async def test_a_project_key_cannot_empty_another_projects_list(members: MembersApi) -> None:
    created = await members.post("/api/o/acme/p/mobile/d/", json={"name": "mobile-ops"})
    assert created.status_code == 201, created.text
    added = await members.post(f"/api/o/acme/p/mobile/d/{created.json()['id']}/add/", json=["alice@example.com"])
    assert len(added.json()["added"]) == 1
    email = await members.assignment_id("alice", "email", "email")  # now in "ops" (web) and "mobile-ops"
    await _refused(members, "alice", email, "web-members", "project 'web'")
    assert await _membership_counts(email) == (2, 0)
    assert (await members.delete(f"{U}/alice/assignments/{email}/", key="org-members")).status_code == 204
    assert await _membership_counts(email) == (0, 0)


async def test_the_scope_check_comes_after_the_404(members: MembersApi) -> None:
    response = await members.delete(f"{U}/alice/assignments/999999/", key="shop-members")
    assert response.status_code == 404 and response.json()["detail"] == "unknown assignment 999999 of user 'alice'"
