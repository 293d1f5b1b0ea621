"""API key management over HTTP (SPEC §3.3, §3.4), on the real app and database."""

import asyncio
import re
import time

import pytest
from clarion_test_support import CACHE_EXPIRY_S

from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token
from management_support import Listed, check_matrix_row, mapi, send  # noqa: F401

KEYS = "/api/o/acme/keys/"


async def _mint(mapi, key="org-all", **body):
    return await send(mapi, "POST", KEYS, key, json={"name": "minted", "grants": ["event:list"], **body})


def _auth(token):
    return {"Authorization": f"Key {token}"}


async def test_mint_shows_the_token_once_and_stores_its_hash(mapi):
    response = await _mint(mapi, project="web", application="shop", grants=["event:trigger", "event:list"])
    assert response.status_code == 201, response.text
    body = response.json()
    token = body["token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert body["project"] == "web" and body["application"] == "shop"
    assert body["grants"] == ["event:list", "event:trigger"] and body["active"] is True
    row = await ApiKey.select(ApiKey.token_hash).where(ApiKey.id == body["id"]).first()
    assert row["token_hash"] == hash_token(token) and token not in str(row)
    listed = await send(mapi, "GET", KEYS)
    assert listed.status_code == 200
    mine = [key for key in listed.json() if key["id"] == body["id"]]
    assert mine and "token" not in mine[0] and "token_hash" not in mine[0]
    assert token not in listed.text and hash_token(token) not in listed.text
    # the new key works, within its scope
    works = await mapi.client.get("/api/o/acme/p/web/a/shop/e/", headers=_auth(token))
    assert works.status_code == 200
    outside = await mapi.client.get("/api/o/acme/p/web/a/blog/e/", headers=_auth(token))
    assert outside.status_code == 403


async def test_revoked_key_stops_working_within_a_second(mapi):
    token = (await _mint(mapi)).json()["token"]
    assert (await mapi.client.get("/api/o/acme/p/web/a/shop/e/", headers=_auth(token))).status_code == 200
    key_id = next(key["id"] for key in (await send(mapi, "GET", KEYS)).json() if key["name"] == "minted")
    assert (await send(mapi, "DELETE", f"{KEYS}{key_id}/")).status_code == 204
    deadline = time.monotonic() + 1.1
    while (await mapi.client.get("/api/o/acme/p/web/a/shop/e/", headers=_auth(token))).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key was still honoured after a second"
        await asyncio.sleep(0.05)
    listed = {key["id"]: key for key in (await send(mapi, "GET", KEYS)).json()}
    assert listed[key_id]["active"] is False
    assert (await send(mapi, "DELETE", f"{KEYS}999999/")).status_code == 404


async def test_duplicate_name_is_409(mapi):
    assert (await _mint(mapi)).status_code == 201
    response = await _mint(mapi)
    assert response.status_code == 409 and response.json()["detail"].startswith("name:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grants": ["nope"]}, "grants[0]"),
        ({"grants": []}, "grants"),
        ({"project": "nope"}, "project"),
        ({"project": "web", "application": "nope"}, "application"),
        ({"application": "shop"}, "project"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"token": "mine"}, "token"),
    ],
)
async def test_bad_bodies_name_the_field(mapi, body, field):
    response = await _mint(mapi, **body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("key", "body", "status", "field"),
    [
        ("web-admin", {}, 403, "project"),  # an organization-wide key from a project key
        ("web-admin", {"project": "mobile"}, 403, "project"),
        ("web-admin", {"project": "web"}, 201, None),
        ("web-admin", {"project": "web", "application": "blog"}, 201, None),
        ("web-admin", {"project": "web", "grants": ["occurrence:read"]}, 403, "grants"),
        ("web-admin", {"project": "web", "grants": ["full_access"]}, 403, "grants"),
        ("shop-admin", {"project": "web"}, 403, "application"),
        ("shop-admin", {"project": "web", "application": "blog"}, 403, "application"),
        ("shop-admin", {"project": "web", "application": "shop", "grants": ["admin"]}, 201, None),
        ("org-admin", {"grants": ["user:write"]}, 403, "grants"),
        ("org-all", {"grants": ["full_access"]}, 201, None),
    ],
)
async def test_keys_mint_only_within_their_own_scope_and_grants(mapi, key, body, status, field):
    response = await _mint(mapi, key, **body)
    assert response.status_code == status, response.text
    if field:
        assert response.json()["detail"].startswith(f"{field}:")


async def test_narrowed_keys_list_and_revoke_only_within_their_scope(mapi):
    shop_key = (await _mint(mapi, name="shop-k", project="web", application="shop")).json()
    mobile_key = (await _mint(mapi, name="mobile-k", project="mobile")).json()
    web_listed = {key["name"] for key in (await send(mapi, "GET", KEYS, "web-admin")).json()}
    assert "shop-k" in web_listed and "web-admin" in web_listed
    assert "mobile-k" not in web_listed and "org-all" not in web_listed
    shop_listed = {key["name"] for key in (await send(mapi, "GET", KEYS, "shop-admin")).json()}
    assert shop_listed == {"shop-app", "shop-admin", "shop-k"}
    assert (await send(mapi, "DELETE", f"{KEYS}{mobile_key['id']}/", "web-admin")).status_code == 404
    assert (await send(mapi, "DELETE", f"{KEYS}{shop_key['id']}/", "web-admin")).status_code == 204


async def test_expiring_keys_mint_keys_that_expire_no_later(mapi):
    parent = (await _mint(mapi, name="parent", grants=["admin", "event:list"], expires_at="2999-01-01T00:00:00Z")).json()
    later = await send(
        mapi, "POST", KEYS, None,
        json={"name": "later", "grants": ["event:list"], "expires_at": "3000-01-01T00:00:00Z"},
        headers=_auth(parent["token"]),
    )
    assert later.status_code == 403 and later.json()["detail"].startswith("expires_at:")
    inherited = await send(
        mapi, "POST", KEYS, None, json={"name": "child", "grants": ["event:list"]}, headers=_auth(parent["token"])
    )
    assert inherited.status_code == 201 and inherited.json()["expires_at"].startswith("2999-01-01")


NO_ADMIN = "key lacks the grant admin"
MINT = {"name": "x", "grants": ["event:list"]}
# (key, method, path, body, status, expected): the exact detail of a refusal (nothing stored changes),
# or how a success is read back (management_support)
MATRIX = [
    (None, "GET", KEYS, None, 401, "missing Authorization header: send 'Authorization: Key <token>'"),
    ("inactive", "GET", KEYS, None, 401, "API key is inactive"),
    ("org-everyday", "GET", KEYS, None, 403, NO_ADMIN),
    ("without-admin", "POST", KEYS, MINT, 403, NO_ADMIN),
    ("globex-all", "GET", KEYS, None, 403, "key is not valid for organization 'acme'"),
    ("globex-all", "POST", KEYS, MINT, 403, "key is not valid for organization 'acme'"),
    ("web-admin", "POST", KEYS, {**MINT, "project": "mobile"}, 403, "project: the key is narrowed to project 'web' and cannot mint keys for project 'mobile'"),
    ("shop-admin", "POST", KEYS, {**MINT, "project": "web"}, 403,
     "application: the key is narrowed to application 'shop' and cannot mint keys for project 'web'"),
    ("org-admin", "POST", KEYS, MINT, 201, Listed(KEYS, key="id", unlisted=("token",))),
    ("web-admin", "POST", KEYS, {**MINT, "project": "web"}, 201, Listed(KEYS, key="id", unlisted=("token",))),
    ("org-all", "DELETE", f"{KEYS}123456/", None, 404, "unknown API key 123456"),
]


@pytest.mark.parametrize(("key", "method", "path", "body", "status", "expected"), MATRIX)
async def test_grant_and_scope_matrix(mapi, key, method, path, body, status, expected):
    await check_matrix_row(mapi, key, method, path, body, status, expected)


@pytest.mark.parametrize(
    ("key", "visible"),
    [
        ("shop-admin", {"shop-app", "shop-admin"}),
        ("org-admin", {"org-all", "org-everyday", "web-project", "shop-app", "blog-app", "expired", "inactive",
                       "org-admin", "web-admin", "shop-admin", "without-admin"}),
    ],
)
async def test_key_lists_show_the_callers_scope(mapi, key, visible):
    listed = await send(mapi, "GET", KEYS, key)
    assert listed.status_code == 200
    assert {row["name"] for row in listed.json()} >= visible
    if key == "shop-admin":
        assert {row["name"] for row in listed.json()} == visible


async def test_applying_the_catalog_again_does_not_bring_a_revoked_key_back(mapi):
    from clarion.catalog.services import apply_catalog
    from clarion.catalog.validation import decode_catalog
    from events_api_support import CHANNEL_KINDS
    from management_support import MANAGEMENT_CATALOG

    key_id = next(key["id"] for key in (await send(mapi, "GET", KEYS)).json() if key["name"] == "shop-app")
    assert (await send(mapi, "DELETE", f"{KEYS}{key_id}/")).status_code == 204
    result = await apply_catalog(decode_catalog(MANAGEMENT_CATALOG), CHANNEL_KINDS)
    assert result.api_keys == {}
    assert result.revoked_keys == ["acme/shop-app"]
    row = await ApiKey.select(ApiKey.active).where(ApiKey.id == key_id).first()
    assert row == {"active": False}
    await asyncio.sleep(CACHE_EXPIRY_S)  # past the API caches ([cache] of BASE_CONFIG)
    refused = await mapi.client.get("/api/o/acme/p/web/a/shop/e/", headers=mapi.key("shop-app"))
    assert refused.status_code == 401 and refused.json()["detail"] == "API key is inactive"
    # the other keys of the catalog are untouched, and nothing is reported for them
    assert (await mapi.client.get("/api/o/acme/p/web/a/shop/e/", headers=mapi.key("web-project"))).status_code == 200
