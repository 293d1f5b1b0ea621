"""Users of an organization, their addresses and assignments (SPEC §3.2, §3.3).

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
from clarion.distribution.tables import DistributionListMember
from clarion.notifications.tables import Subscription
from clarion.auth.services import ApiPrincipal
from clarion.errors import BadRequest, Conflict, NotFound, PermissionDenied
from clarion.occurrences.tables import Delivery
from clarion.organizations.services import TenantDirectory
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.process import Runtime
from clarion.decoding import decode_body
from clarion.users.addresses import address_kind
from clarion.users.schemas import (
    CUSTOM_FIELDS_MODES,
    AddressCreate,
    AddressOut,
    AssignmentCreate,
    AssignmentOut,
    UserCreate,
    UserOut,
    UserReplace,
    UserUpdate,
)
from clarion.users.tables import Address, Assignment, User

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


def address_out(row: Mapping[str, Any]) -> AddressOut:
    return AddressOut(id=row["id"], name=row["name"], value=row["value"], kind=row["kind"])


ASSIGNMENT_COLUMNS = (
    Assignment.id,
    Assignment.channel,
    Assignment.active,
    Assignment.address.name.as_alias("address_name"),
    Assignment.address.value.as_alias("address_value"),
    Assignment.address.kind.as_alias("address_kind"),
)


def assignment_out(row: Mapping[str, Any]) -> AssignmentOut:
    return AssignmentOut(
        id=row["id"],
        address=row["address_name"],
        value=row["address_value"],
        kind=row["address_kind"],
        channel=row["channel"],
        active=bool(row["active"]),
    )


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


def channel_kinds(runtime: Runtime, channel: str, field: str) -> frozenset[str]:
    """The address kinds configured channel `channel` accepts; 400 naming `field` if it is not configured."""
    settings = runtime.channels.settings()
    if runtime.channels.state(channel) == "unknown" or channel not in settings:
        configured = ", ".join(sorted(settings)) or "none"
        raise BadRequest(f"{field}: channel {channel!r} is not configured (configured: {configured})")
    channel_type = runtime.plugins.channel_types.get(settings[channel].type)
    return frozenset(channel_type.address_kinds) if channel_type is not None else frozenset()


def check_channel_secret(runtime: Runtime, channel: str, secret: str, field: str) -> None:
    """400 naming `field` unless the type of configured channel `channel` accepts `secret`."""
    channel_type = runtime.plugins.channel_types.get(runtime.channels.settings()[channel].type)
    if channel_type is None:
        return
    try:
        channel_type.check_secret(secret)
    except ValueError as exc:
        raise BadRequest(f"{field}: {exc}") from None


def channels_for_kind(runtime: Runtime, kind: str) -> list[str]:
    """The enabled channels whose type accepts addresses of `kind`, by name."""
    names = []
    for name, settings in sorted(runtime.channels.settings().items()):
        channel_type = runtime.plugins.channel_types.get(settings.type)
        if settings.enabled and channel_type is not None and kind in channel_type.address_kinds:
            names.append(name)
    return names


# users --------------------------------------------------------------------------------------------


async def list_users(tenants: TenantDirectory, org: str, page: PageRequest) -> Page[UserOut]:
    organization = await tenants.organization(org)
    query = User.select(*_USER_COLUMNS).where(User.organization == organization.id).output(load_json=True)
    rows = await page_of_query(query, page, key=User.username)
    return rows.map(user_out)


async def read_user(tenants: TenantDirectory, org: str, username: str) -> UserOut:
    organization = await tenants.organization(org)
    return user_out(await find_user(organization.id, username))


async def create_user(tenants: TenantDirectory, org: str, body: bytes) -> UserOut:
    organization = await tenants.organization(org)
    request = decode_body(body, UserCreate)
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
    tenants: TenantDirectory, org: str, username: str, body: bytes, *, replace: bool, query_mode: str | None
) -> UserOut:
    """PUT (`replace`) or PATCH the user; `_mode` comes from the body, else from `?_mode=`, else `ignore`."""
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    check_mode(query_mode)
    request: UserReplace | UserUpdate = decode_body(body, UserReplace if replace else UserUpdate)
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


async def list_addresses(tenants: TenantDirectory, org: str, username: str, page: PageRequest) -> Page[AddressOut]:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    query = Address.select(Address.id, Address.name, Address.value, Address.kind).where(Address.user == user["id"])
    return (await page_of_query(query, page, key=Address.name)).map(address_out)


async def create_address(tenants: TenantDirectory, org: str, username: str, body: bytes) -> AddressOut:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    request = decode_body(body, AddressCreate)
    kind = address_kind(request.value)
    async with write_transaction():
        if await Address.exists().where((Address.user == user["id"]) & (Address.name == request.name)):
            raise Conflict(f"name: user {user['username']!r} already has an address named {request.name!r}")
        rows = await Address.insert(
            Address(user=user["id"], name=request.name, value=request.value, kind=kind)
        ).returning(Address.id)
    return AddressOut(id=rows[0]["id"], name=request.name, value=request.value, kind=kind)


# assignments --------------------------------------------------------------------------------------


async def list_assignments(
    tenants: TenantDirectory, org: str, username: str, page: PageRequest
) -> Page[AssignmentOut]:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    query = Assignment.select(*ASSIGNMENT_COLUMNS).where(Assignment.address.user == user["id"])
    return (await page_of_query(query, page, key=Assignment.id)).map(assignment_out)


async def create_assignment(
    runtime: Runtime, tenants: TenantDirectory, org: str, username: str, body: bytes
) -> AssignmentOut:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    request = decode_body(body, AssignmentCreate)
    address = await Address.select(Address.id, Address.kind).where(
        (Address.user == user["id"]) & (Address.name == request.address)
    ).first()
    if address is None:
        raise BadRequest(f"address: user {user['username']!r} has no address named {request.address!r}")
    kinds = channel_kinds(runtime, request.channel, "channel")
    if address["kind"] not in kinds:
        accepted = ", ".join(sorted(kinds)) or "nothing"
        raise BadRequest(
            f"channel: channel {request.channel!r} cannot reach a {address['kind']} address (accepts {accepted})"
        )
    if request.secret is not None:
        check_channel_secret(runtime, request.channel, request.secret, "secret")
    async with write_transaction():
        existing = await Assignment.select(Assignment.id, Assignment.active).where(
            (Assignment.address == address["id"]) & (Assignment.channel == request.channel)
        ).first()
        if existing is not None and existing["active"]:
            raise Conflict(f"channel: address {request.address!r} is already assigned to channel {request.channel!r}")
        if existing is not None:  # kept inactive by a delete, for its deliveries' sake: revive it
            await Assignment.update({Assignment.secret: request.secret, Assignment.active: request.active}).where(
                Assignment.id == existing["id"]
            )
            return await read_assignment(existing["id"])
        rows = await Assignment.insert(
            Assignment(address=address["id"], channel=request.channel, secret=request.secret, active=request.active)
        ).returning(Assignment.id)
    return await read_assignment(rows[0]["id"])


def scope_name(principal: ApiPrincipal) -> str:
    """The narrowest level a key is narrowed to, e.g. "application 'shop'"."""
    if principal.application is not None:
        return f"application {principal.application!r}"
    return f"project {principal.project!r}"


async def uses_outside_scope(principal: ApiPrincipal, assignment_id: int) -> int:
    """How many list memberships and subscriptions of the assignment a narrowed key does not cover.

    A project key covers the project's lists and the subscriptions to notifications of its
    events; an application key the lists pinned to its application and the subscriptions to
    notifications of its events.
    """
    member_list = DistributionListMember.distribution_list
    subscribed_app = Subscription.notification.event.application
    if principal.application_id is not None:
        list_inside = member_list.application == principal.application_id
        subscription_inside = subscribed_app.id == principal.application_id
    else:
        list_inside = member_list.project == principal.project_id
        subscription_inside = subscribed_app.project == principal.project_id
    members = DistributionListMember.assignment == assignment_id
    subscriptions = Subscription.assignment == assignment_id
    total = await DistributionListMember.count().where(members) + await Subscription.count().where(subscriptions)
    inside = await DistributionListMember.count().where(members & list_inside) + await Subscription.count().where(
        subscriptions & subscription_inside
    )
    return total - inside


async def read_assignment(assignment_id: int) -> AssignmentOut:
    row = await Assignment.select(*ASSIGNMENT_COLUMNS).where(Assignment.id == assignment_id).first()
    if row is None:
        raise NotFound(f"unknown assignment {assignment_id}")
    return assignment_out(row)


async def delete_assignment(
    tenants: TenantDirectory, principal: ApiPrincipal, org: str, username: str, assignment_id: int
) -> None:
    """Remove the user's assignment from every list and subscription; delete it unless deliveries
    refer to it, in which case it is kept, inactive, so their history stays (POST revives it).

    A narrowed key changes nothing outside its scope: it may delete an assignment only when every
    distribution list and subscription that uses it lies inside its scope (403 otherwise)."""
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    async with write_transaction():
        condition = (Assignment.id == assignment_id) & (Assignment.address.user == user["id"])
        if not await Assignment.exists().where(condition):
            raise NotFound(f"unknown assignment {assignment_id} of user {user['username']!r}")
        if principal.narrowed and (outside := await uses_outside_scope(principal, assignment_id)):
            raise PermissionDenied(
                f"assignment {assignment_id} is used by {outside} distribution list(s) or subscription(s) outside"
                f" {scope_name(principal)}: only a key whose scope covers them can delete it"
            )
        if await Delivery.exists().where(Delivery.assignment == assignment_id):
            await DistributionListMember.delete().where(DistributionListMember.assignment == assignment_id)
            await Subscription.delete().where(Subscription.assignment == assignment_id)
            await Assignment.update({Assignment.active: False}).where(Assignment.id == assignment_id)
        else:
            await Assignment.delete().where(Assignment.id == assignment_id)
