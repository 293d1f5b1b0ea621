"""Assignments: a user's address bound to a channel, the unit a message is delivered to (SPEC §3.3).

An assignment is what distribution lists and subscriptions hold, so deleting
one reaches into them: a narrowed key may delete only an assignment every use
of which lies inside its scope, and an assignment that deliveries refer to is
kept, inactive, for their history.
"""

from collections.abc import Mapping
from typing import Any

from clarion.auth.services import ApiPrincipal
from clarion.channels.addresses import AddressKinds
from clarion.channels.runtime import ChannelSet
from clarion.channels.services import channel_kinds, check_channel_secret
from clarion.db.engine import write_transaction
from clarion.distribution.tables import DistributionListMember
from clarion.errors import BadRequest, Conflict, NotFound, PermissionDenied
from clarion.notifications.tables import Subscription
from clarion.occurrences.tables import Delivery
from clarion.organizations.services import TenantDirectory
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.users.schemas import AssignmentCreate, AssignmentOut
from clarion.users.services import find_user
from clarion.users.tables import Address, Assignment

ASSIGNMENT_COLUMNS = (
    Assignment.id,
    Assignment.channel,
    Assignment.active,
    Assignment.address.name.as_alias("address_name"),
    Assignment.address.value.as_alias("address_value"),
    Assignment.address.kind.as_alias("address_kind"),
)


def assignment_out(row: Mapping[str, Any], kinds: AddressKinds) -> AssignmentOut:
    return AssignmentOut(
        id=row["id"],
        address=row["address_name"],
        value=kinds.shown(row["address_value"], row["address_kind"]),
        kind=row["address_kind"],
        channel=row["channel"],
        active=bool(row["active"]),
    )


async def list_assignments(
    tenants: TenantDirectory, kinds: AddressKinds, org: str, username: str, page: PageRequest
) -> Page[AssignmentOut]:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    query = Assignment.select(*ASSIGNMENT_COLUMNS).where(Assignment.address.user == user["id"])
    return (await page_of_query(query, page, key=Assignment.id)).map(lambda row: assignment_out(row, kinds))


async def create_assignment(
    channels: ChannelSet, tenants: TenantDirectory, org: str, username: str, request: AssignmentCreate
) -> AssignmentOut:
    organization = await tenants.organization(org)
    user = await find_user(organization.id, username)
    address = await Address.select(Address.id, Address.kind).where(
        (Address.user == user["id"]) & (Address.name == request.address)
    ).first()
    if address is None:
        raise BadRequest(f"address: user {user['username']!r} has no address named {request.address!r}")
    check_assignment(channels, request.channel, address["kind"], request.secret)
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
            return await read_assignment(existing["id"], channels.address_kinds)
        rows = await Assignment.insert(
            Assignment(address=address["id"], channel=request.channel, secret=request.secret, active=request.active)
        ).returning(Assignment.id)
    return await read_assignment(rows[0]["id"], channels.address_kinds)


def check_assignment(channels: ChannelSet, channel: str, address_kind: str, secret: str | None) -> None:
    """400 naming the field unless `channel` is configured, reaches `address_kind` addresses and accepts `secret`."""
    kinds = channel_kinds(channels, channel, "channel")
    if address_kind not in kinds:
        accepted = ", ".join(sorted(kinds)) or "nothing"
        raise BadRequest(f"channel: channel {channel!r} cannot reach a {address_kind} address (accepts {accepted})")
    if secret is not None:
        check_channel_secret(channels, channel, secret, "secret")


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


async def read_assignment(assignment_id: int, kinds: AddressKinds) -> AssignmentOut:
    row = await Assignment.select(*ASSIGNMENT_COLUMNS).where(Assignment.id == assignment_id).first()
    if row is None:
        raise NotFound(f"unknown assignment {assignment_id}")
    return assignment_out(row, kinds)


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
