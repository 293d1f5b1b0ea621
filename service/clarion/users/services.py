"""Users of an organization and their addresses (SPEC §3.2, §3.3); assignments: `clarion.membership`.

Users belong to the organization: every key of it with `user:read` /
`user:write` reaches all of them, narrowed or not. Lookups (404) happen before
the body is decoded (400). `{username}` in a path is the username; when no user
has it and it looks like an e-mail address, the one user with that e-mail is
meant (the existing client addresses users by e-mail).
"""

import json
from collections.abc import Mapping
from typing import Any

from msgspec import UNSET

from clarion.db.engine import write_transaction
from clarion.decoding import decode_body
from clarion.errors import BadRequest, Conflict, NotFound
from clarion.organizations.services import TenantDirectory
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.channels.addresses import AddressKindError, AddressKinds
from clarion.users.schemas import (
    CUSTOM_FIELDS_MODES,
    AddressCreate,
    AddressOut,
    UserCreate,
    UserOut,
    UserReplace,
    UserUpdate,
)
from clarion.users.tables import Address, User

_USER_COLUMNS = (
    User.id,
    User.username,
    User.email,
    User.first_name,
    User.last_name,
    User.locked,
    User.custom_fields,
    User.created,
)


# custom_fields update modes -----------------------------------------------------------------------


def merge_fields(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: objects merge recursively, anything else in `given` wins."""
    result = dict(current)
    for key, value in given.items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = merge_fields(result[key], value)
        else:
            result[key] = value
    return result


def remove_fields(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Delete the keys of `given`; where both sides are objects, recursively (emptied objects go too)."""
    result = dict(current)
    for key, value in given.items():
        if key not in result:
            continue
        if isinstance(result[key], dict) and isinstance(value, dict) and value:
            nested = remove_fields(result[key], value)
            if nested:
                result[key] = nested
                continue
        del result[key]
    return result


def apply_custom_fields(current: dict[str, Any], given: dict[str, Any] | None, mode: str) -> dict[str, Any]:
    """The user's custom fields after an update with `given` in `mode` (SPEC §3.2)."""
    if given is None or mode == "ignore":
        return current
    if mode == "merge":
        return merge_fields(current, given)
    if mode == "override":
        return {**current, **given}
    if mode == "remove":
        return remove_fields(current, given)
    return dict(given)  # rewrite


def check_mode(value: str | None) -> str | None:
    """`?_mode=`: one of the modes (400 naming `_mode` otherwise)."""
    if value is not None and value not in CUSTOM_FIELDS_MODES:
        raise BadRequest(f"_mode: expected one of {', '.join(CUSTOM_FIELDS_MODES)}, got {value!r}")
    return value


# rows -> responses --------------------------------------------------------------------------------


def json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


def user_out(row: Mapping[str, Any]) -> UserOut:
    return UserOut(
        username=row["username"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        locked=bool(row["locked"]),
        is_active=not row["locked"],
        custom_fields=json_object(row["custom_fields"]),
        created=row.get("created"),
    )


def address_out(row: Mapping[str, Any], kinds: AddressKinds) -> AddressOut:
    """The address as the API shows it: secrets in the value (an Apprise URL's token) redacted."""
    return AddressOut(id=row["id"], name=row["name"], value=kinds.shown(row["value"], row["kind"]), kind=row["kind"])


def new_address_kind(kinds: AddressKinds, value: str, given: str | None, where: str = "") -> str:
    """The kind of a new address (400 naming `where`.kind or `where`.value if it cannot be one)."""
    try:
        return kinds.kind_of(value, given)
    except AddressKindError as exc:
        raise BadRequest(exc.at(where)) from None


# lookups ------------------------------------------------------------------------------------------


async def find_user(organization_id: int, username: str) -> dict[str, Any]:
    """The user row (404 naming the username); an e-mail address finds the one user with it."""
    row = await User.select(*_USER_COLUMNS).where(
        (User.organization == organization_id) & (User.username == username)
    ).first()
    if row is None and "@" in username:
        rows = await User.select(*_USER_COLUMNS).where(
            (User.organization == organization_id) & (User.email == username)
        ).limit(2)
        row = rows[0] if len(rows) == 1 else None
    if row is None:
        raise NotFound(f"unknown user {username!r}")
    return row  # type: ignore[no-any-return]


async def username_taken(organization_id: int, username: str) -> bool:
    return await User.exists().where((User.organization == organization_id) & (User.username == username))


# users --------------------------------------------------------------------------------------------


async def list_users(tenants: TenantDirectory, org: str, page: PageRequest) -> Page[UserOut]:
    organization = await tenants.organization(org)
    query = User.select(*_USER_COLUMNS).where(User.organization == organization.id).output(load_json=True)
    rows = await page_of_query(query, page, key=User.username)
    return rows.map(user_out)


async def read_user(tenants: TenantDirectory, org: str, username: str) -> UserOut:
    organization = await tenants.organization(org)
    return user_out(await find_user(organization.id, username))


async def create_user(tenants: TenantDirectory, org: str, request: UserCreate) -> UserOut:
    organization = await tenants.organization(org)
    username = request.username or request.email
    if not username:
        raise BadRequest("username: required key missing (or give an email to use as the username)")
    if request.username is None:
        decode_body(json.dumps({"username": username}).encode(), UserCreate)  # the e-mail must be a valid username
    async with write_transaction():
        if await username_taken(organization.id, username):
            raise Conflict(f"username: a user {username!r} already exists")
        await User.insert(
            User(
                organization=organization.id,
                username=username,
                email=request.email,
                first_name=request.first_name,
                last_name=request.last_name,
                locked=request.locked,
                custom_fields=json.dumps(request.custom_fields or {}),
            )
        )
    return user_out(await find_user(organization.id, username))


async def change_user(
    tenants: TenantDirectory, org: str, username: str, request: UserReplace | UserUpdate, *, query_mode: str | None
) -> UserOut:
    """PUT (a `UserReplace`) or PATCH the user; `_mode` comes from the body, else from `?_mode=`, else `ignore`."""
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    check_mode(query_mode)
    mode = request.mode if request.mode is not UNSET else (query_mode or "ignore")
    changes: dict[Any, Any] = {}
    for column in (User.email, User.first_name, User.last_name, User.locked):
        value = getattr(request, column._meta.name)
        if value is not UNSET:
            changes[column] = value
    given = request.custom_fields
    async with write_transaction():
        current = await User.select(User.custom_fields).where(User.id == user["id"]).output(load_json=True).first()
        if current is None:
            raise NotFound(f"unknown user {username!r}")
        if given is not UNSET:
            fields = apply_custom_fields(json_object(current["custom_fields"]), given, mode)
            changes[User.custom_fields] = json.dumps(fields)
        if changes:
            await User.update(changes).where(User.id == user["id"])
    return user_out(await find_user(organization.id, user["username"]))


# addresses ----------------------------------------------------------------------------------------


async def list_addresses(
    tenants: TenantDirectory, kinds: AddressKinds, org: str, username: str, page: PageRequest
) -> Page[AddressOut]:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    query = Address.select(Address.id, Address.name, Address.value, Address.kind).where(Address.user == user["id"])
    return (await page_of_query(query, page, key=Address.name)).map(lambda row: address_out(row, kinds))


async def create_address(
    tenants: TenantDirectory, kinds: AddressKinds, org: str, username: str, request: AddressCreate
) -> AddressOut:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    kind = new_address_kind(kinds, request.value, request.kind)
    async with write_transaction():
        if await Address.exists().where((Address.user == user["id"]) & (Address.name == request.name)):
            raise Conflict(f"name: user {user['username']!r} already has an address named {request.name!r}")
        rows = await Address.insert(
            Address(user=user["id"], name=request.name, value=request.value, kind=kind)
        ).returning(Address.id)
    return address_out({"id": rows[0]["id"], "name": request.name, "value": request.value, "kind": kind}, kinds)
