"""Input no field may hold is a 400 (or a 404) naming the field, never a 500 (issue 8 §2), on both engines.

Deep nesting, NUL characters, ids beyond what an id column holds, timestamps with no UTC
equivalent — in bodies, paths and query strings — sent to the real app over HTTP.
"""

import base64
import json

import pytest

from clarion.decoding import MAX_JSON_DEPTH
from clarion.schemas import MAX_ID
from events_api_support import api_settings  # noqa: F401
from membership_support import MembersApi, members  # noqa: F401
from clarion_test_support import problem

ORG = "/api/o/acme"
WEB = f"{ORG}/p/web"
SHOP = f"{WEB}/a/shop"
TRIGGER = f"{SHOP}/e/order-paid/trigger/"
TOO_DEEP = f"body: nested deeper than {MAX_JSON_DEPTH} levels"
NUL = "contains a NUL character (\\u0000)"
BEYOND_INT4 = 2**31  # one past PostgreSQL's `integer`
BEYOND_INT8 = 2**63  # one past SQLite's INTEGER (and PostgreSQL's `bigint`)


def nested(levels: int, leaf: str = "1") -> str:
    """JSON text of `levels` nested objects around `leaf`: `{"a":{"a":…1…}}`."""
    return '{"a":' * levels + leaf + "}" * levels


async def post_json(members: MembersApi, path: str, text: str, method: str = "POST") -> tuple[int, dict]:
    response = await members.request(method, path, content=text.encode(), headers={"Content-Type": "application/json"})
    return response.status_code, response.json() if response.content else {}


# --- nesting -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 989, 990, 5000, 50_000])
async def test_deep_nesting_is_a_400_on_every_kind_of_body(members: MembersApi, levels: int) -> None:
    bodies = [
        (TRIGGER, '{"context":' + nested(levels - 1) + "}"),
        (f"{SHOP}/e/order-paid/preview/", '{"context":' + nested(levels - 1) + "}"),
        (f"{ORG}/u/", '{"username":"deep","custom_fields":' + nested(levels - 1) + "}"),
        (f"{WEB}/a/", "[" * levels + "]" * levels),
        (f"{ORG}/keys/", "[" * levels + "]" * levels),
    ]
    for path, text in bodies:
        status, body = await post_json(members, path, text)
        assert (status, body) == (400, problem(400, TOO_DEEP)), path


async def test_nesting_up_to_the_limit_is_accepted(members: MembersApi) -> None:
    status, body = await post_json(members, TRIGGER, '{"context":' + nested(MAX_JSON_DEPTH - 1) + "}")
    assert status == 201, body
    status, body = await post_json(members, TRIGGER, '{"context":' + nested(MAX_JSON_DEPTH) + "}")
    assert (status, body) == (400, problem(400, TOO_DEEP))


# --- NUL characters ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", f"{SHOP}/e/", {"slug": "a\0b", "name": "A"}, "slug"),
        ("POST", f"{SHOP}/e/", {"slug": "ok", "name": "x\0y"}, "name"),
        ("POST", f"{WEB}/d/", {"name": "\0"}, "name"),
        ("PATCH", f"{WEB}/", {"name": "web\0"}, "name"),
        ("PUT", f"{SHOP}/e/order-paid/templates/email/", {"subject": "s", "text": "hi\0"}, "text"),
        ("POST", TRIGGER, {"context": {"order": {"items": ["ok", "x\0"]}}}, "context.order.items[1]"),
        ("POST", TRIGGER, {"context": {"k\0": 1}}, "context: a key"),
        ("POST", TRIGGER, {"options": {"channels": ["email\0"]}}, "options.channels[0]"),
        ("POST", f"{ORG}/u/", {"username": "carol", "custom_fields": {"note": "\0"}}, "custom_fields.note"),
        ("POST", f"{ORG}/u/alice/address/", {"name": "work", "value": "a\0@example.com"}, "value"),
        ("POST", f"{SHOP}/register/", {"username": "dave", "email": "d@example.com", "first_name": "\0"}, "first_name"),
        ("POST", f"{ORG}/keys/", {"name": "k\0", "grants": ["event:list"]}, "name"),
    ],
)
async def test_a_nul_in_a_body_string_is_a_400_naming_the_field(
    members: MembersApi, method: str, path: str, body: dict, field: str
) -> None:
    status, answer = await post_json(members, path, json.dumps(body), method)
    detail = f"{field} contains a NUL character (\\u0000)" if field.endswith("a key") else f"{field}: {NUL}"
    assert (status, answer) == (400, problem(400, detail))


async def test_a_nul_in_a_list_body_names_the_item(members: MembersApi) -> None:
    list_id = await members.list_id("ops")
    status, answer = await post_json(members, f"{WEB}/d/{list_id}/add/", json.dumps(["alice@example.com", "\0"]))
    assert (status, answer) == (400, problem(400, f"[1]: {NUL}"))


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(members: MembersApi) -> None:
    status, body = await post_json(members, TRIGGER, json.dumps({"context": {"path": "C:\\u0000"}}))
    assert status == 201, body


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"{ORG}/p/w%00b/", "prj"),
        ("GET", f"{ORG}/u/al%00ice/", "username"),
        ("POST", f"{SHOP}/e/order%00paid/trigger/", "evt"),
        ("GET", f"{SHOP}/occurrences/01J%00/", "occurrence_id"),
        ("PUT", f"{SHOP}/e/order-paid/templates/em%00ail/", "channel"),
        ("POST", f"{TRIGGER}?cid=a%00b", "cid"),
        ("GET", f"{ORG}/p/?limit=1&cursor=%00", "cursor"),
    ],
)
async def test_a_nul_in_a_path_or_query_value_is_a_400_naming_it(
    members: MembersApi, method: str, path: str, field: str
) -> None:
    response = await members.request(method, path, json={})
    assert (response.status_code, response.json()) == (400, problem(400, f"{field}: {NUL}"))


async def test_the_guards_answer_before_the_nul_check(members: MembersApi) -> None:
    response = await members.request("GET", f"{ORG}/p/w%00b/", "org-members")  # no organization:read
    assert response.status_code == 403
    response = await members.request("GET", "/api/o/ac%00me/")  # not the key's organization
    assert response.status_code == 403


@pytest.mark.parametrize("key", ['"we\\u0000b"', str(BEYOND_INT8), str(BEYOND_INT4), "0", "-5"])
async def test_a_forged_cursor_is_a_400(members: MembersApi, key: str) -> None:
    cursor = base64.urlsafe_b64encode(f"[{key}]".encode()).rstrip(b"=").decode()
    list_path = f"{ORG}/p/" if key.startswith('"') else f"{ORG}/keys/"
    response = await members.get(f"{list_path}?cursor={cursor}")
    assert (response.status_code, response.json()) == (
        400, problem(400, "cursor: not a cursor of this list (take it from the Link header)")
    )


# --- ids ---------------------------------------------------------------------------------------------------------


def _no_such_id(name: str, value: int) -> dict[str, object]:
    return problem(404, f"{name}: no such id ({value} is outside 1–{MAX_ID})")


@pytest.mark.parametrize("value", [BEYOND_INT4, BEYOND_INT8, 10**30, 0, -1])
async def test_a_path_id_that_cannot_exist_is_a_404(members: MembersApi, value: int) -> None:
    notification = await members.notification_id("tell ops")
    for method, path, name in [
        ("DELETE", f"{ORG}/keys/{value}/", "key_id"),
        ("GET", f"{WEB}/d/{value}/", "pk"),
        ("GET", f"{WEB}/d/{value}/m/", "pk"),
        ("POST", f"{WEB}/d/{value}/add/", "pk"),
        ("GET", f"{SHOP}/e/order-paid/n/{value}/", "pk"),
        ("PATCH", f"{SHOP}/e/order-paid/n/{value}/", "pk"),
        ("DELETE", f"{SHOP}/e/order-paid/n/{value}/", "pk"),
        ("PUT", f"{SHOP}/e/order-paid/n/{value}/templates/email/", "pk"),
        ("POST", f"{SHOP}/n/{value}/subscribe/", "pk"),
        ("DELETE", f"{ORG}/u/alice/assignments/{value}/", "pk"),
    ]:
        response = await members.request(method, path, json={"assignment": 1, "text": "x"})
        assert (response.status_code, response.json()) == (404, _no_such_id(name, value)), (method, path)
    # the largest id is a plain "unknown": no row has it, but the database can look
    response = await members.delete(f"{ORG}/keys/{MAX_ID}/")
    assert (response.status_code, response.json()) == (404, problem(404, f"unknown API key {MAX_ID}"))
    response = await members.post(f"{SHOP}/n/{notification}/subscribe/", json={"assignment": MAX_ID})
    assert (response.status_code, response.json()) == (
        400, problem(400, f"assignment: no assignment {MAX_ID} in this organization")
    )


async def test_the_guards_answer_before_the_impossible_id(members: MembersApi) -> None:
    response = await members.delete(f"{ORG}/keys/{BEYOND_INT8}/", "org-everyday")  # no admin grant
    assert response.status_code == 403
    response = await members.client.delete(f"{ORG}/keys/{BEYOND_INT8}/")  # no key at all
    assert response.status_code == 401


@pytest.mark.parametrize("value", [BEYOND_INT4, BEYOND_INT8, 0])
async def test_a_body_id_out_of_range_is_a_400_naming_the_field(members: MembersApi, value: int) -> None:
    notification = await members.notification_id("tell ops")
    bound = f"<= {MAX_ID}" if value else ">= 1"
    for method, path, body, field in [
        ("POST", f"{SHOP}/n/{notification}/subscribe/", {"assignment": value}, "assignment"),
        ("DELETE", f"{SHOP}/n/{notification}/subscribe/", {"assignment": value}, "assignment"),
        ("POST", f"{SHOP}/e/order-paid/n/", {"name": "n", "distribution_list": value}, "distribution_list"),
        ("PATCH", f"{SHOP}/e/order-paid/n/{notification}/", {"distribution_list": value}, "distribution_list"),
    ]:
        response = await members.request(method, path, json=body)
        assert (response.status_code, response.json()) == (
            400, problem(400, f"{field}: expected int {bound}")
        ), (method, path)


@pytest.mark.parametrize("value", [str(BEYOND_INT4), str(BEYOND_INT8), "0", "x"])
async def test_an_unsubscribe_query_id_out_of_range_is_a_400(members: MembersApi, value: str) -> None:
    notification = await members.notification_id("tell ops")
    response = await members.delete(f"{SHOP}/n/{notification}/subscribe/?assignment={value}")
    assert (response.status_code, response.json()) == (
        400, problem(400, f"assignment: expected an id (an integer from 1 to {MAX_ID})")
    )


# --- timestamps --------------------------------------------------------------------------------------------------

OUT_OF_RANGE = "expires_at: out of range: in UTC it must fall between years 1 and 9999"


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+14:00"])
async def test_an_expiry_past_year_9999_in_utc_is_a_400(members: MembersApi, expires_at: str) -> None:
    response = await members.post(f"{ORG}/keys/", json={"name": "far", "grants": ["event:list"], "expires_at": expires_at})
    assert (response.status_code, response.json()) == (400, problem(400, OUT_OF_RANGE))


async def test_the_latest_expiry_there_is_is_accepted(members: MembersApi) -> None:
    body = {"name": "far", "grants": ["event:list"], "expires_at": "9999-12-31T23:59:59Z"}
    response = await members.post(f"{ORG}/keys/", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["expires_at"] == "9999-12-31T23:59:59Z"
    listed = {key["name"]: key for key in (await members.get(f"{ORG}/keys/")).json()}
    assert listed["far"]["expires_at"] == "9999-12-31T23:59:59Z"
