"""`register` / `unregister`: an application's own users (SPEC §3.2, the existing client's membership calls).

`register` is idempotent: the user is created when missing (names and e-mail are
only used then), the `ApplicationMembership` is created or updated (its
`custom_fields` deep-merged into the stored ones, `active` set), each address is
found by value among the user's addresses or created (named `name`, default: the
value), addresses with `assign_to_preferred_channel` are assigned to every
*enabled* configured channel whose type accepts their kind, and those
assignments are added to the named distribution list of the project pinned to
the application (created, pinned, when missing). Everything happens in one unit
of work.
"""

import json
from typing import Any

from clarion.channels.addresses import AddressKinds
from clarion.channels.runtime import ChannelSet
from clarion.channels.services import channels_for_kind
from clarion.db.engine import write_transaction
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.errors import Conflict
from clarion.membership.assignments import read_assignment
from clarion.notifications.tables import Notification, Subscription
from clarion.organizations.services import TenantDirectory
from clarion.users.schemas import (
    AddressOut,
    ListRef,
    MembershipOut,
    RegisterAddress,
    RegisterRequest,
    RegisterResponse,
    UnregisterResponse,
)
from clarion.users.services import (
    address_out,
    find_user,
    json_object,
    merge_fields,
    new_address_kind,
    user_out,
)
from clarion.users.tables import Address, ApplicationMembership, Assignment, User


async def register(
    channels: ChannelSet, tenants: TenantDirectory, org: str, prj: str, app: str, request: RegisterRequest
) -> RegisterResponse:
    application = await tenants.application(org, prj, app)
    kinds = channels.address_kinds
    new_kinds = [
        new_address_kind(kinds, given.value, given.kind, f"addresses[{index}]")
        for index, given in enumerate(request.addresses)
    ]
    assignment_ids: list[int] = []
    addresses: list[AddressOut] = []
    list_ref: ListRef | None = None
    async with write_transaction():
        user_id, created = await _user(application.organization_id, request)
        membership = await _membership(application.id, user_id, request)
        for index, given in enumerate(request.addresses):
            address = await _address(user_id, given, new_kinds[index], kinds, f"addresses[{index}].name")
            addresses.append(address)
            if given.assign_to_preferred_channel:
                for channel in channels_for_kind(channels, address.kind):
                    assignment_ids.append(await _assignment(address.id, channel))
        if request.distribution_list is not None:
            list_ref = await _pinned_list(application.project_id, application.id, app, request.distribution_list)
            for assignment_id in assignment_ids:
                if not await DistributionListMember.exists().where(
                    (DistributionListMember.distribution_list == list_ref.id)
                    & (DistributionListMember.assignment == assignment_id)
                ):
                    await DistributionListMember.insert(
                        DistributionListMember(distribution_list=list_ref.id, assignment=assignment_id)
                    )
    user = await find_user(application.organization_id, request.username)
    return RegisterResponse(
        user=user_out(user),
        created=created,
        membership=MembershipOut(application=app, custom_fields=membership[0], active=membership[1]),
        addresses=addresses,
        assignments=[await read_assignment(assignment_id, kinds) for assignment_id in assignment_ids],
        distribution_list=list_ref,
    )


async def _user(organization_id: int, request: RegisterRequest) -> tuple[int, bool]:
    row = await User.select(User.id).where(
        (User.organization == organization_id) & (User.username == request.username)
    ).first()
    if row is not None:
        return row["id"], False
    rows = await User.insert(
        User(
            organization=organization_id,
            username=request.username,
            email=request.email,
            first_name=request.first_name,
            last_name=request.last_name,
            custom_fields="{}",
        )
    ).returning(User.id)
    return rows[0]["id"], True


async def _membership(application_id: int, user_id: int, request: RegisterRequest) -> tuple[dict[str, Any], bool]:
    condition = (ApplicationMembership.application == application_id) & (ApplicationMembership.user == user_id)
    row = await ApplicationMembership.select(ApplicationMembership.custom_fields).where(condition).first()
    given = request.custom_fields or {}
    if row is None:
        await ApplicationMembership.insert(
            ApplicationMembership(
                application=application_id, user=user_id, custom_fields=json.dumps(given), active=request.active
            )
        )
        return given, request.active
    fields = merge_fields(json_object(row["custom_fields"]), given)
    await ApplicationMembership.update(
        {ApplicationMembership.custom_fields: json.dumps(fields), ApplicationMembership.active: request.active}
    ).where(condition)
    return fields, request.active


async def _address(user_id: int, given: RegisterAddress, kind: str, kinds: AddressKinds, field: str) -> AddressOut:
    columns = (Address.id, Address.name, Address.value, Address.kind)
    value = given.value
    row = await Address.select(*columns).where((Address.user == user_id) & (Address.value == value)).first()
    if row is not None:
        return address_out(row, kinds)
    # The default name is the value as shown: an Apprise URL's token must not become a name.
    name = given.name or kinds.shown(value, kind)[:100]
    if await Address.exists().where((Address.user == user_id) & (Address.name == name)):
        raise Conflict(f"{field}: the user already has an address named {name!r} with another value")
    rows = await Address.insert(Address(user=user_id, name=name, value=value, kind=kind)).returning(Address.id)
    return address_out({"id": rows[0]["id"], "name": name, "value": value, "kind": kind}, kinds)


async def _assignment(address_id: int, channel: str) -> int:
    condition = (Assignment.address == address_id) & (Assignment.channel == channel)
    row = await Assignment.select(Assignment.id).where(condition).first()
    if row is not None:
        return row["id"]  # type: ignore[no-any-return]
    rows = await Assignment.insert(Assignment(address=address_id, channel=channel)).returning(Assignment.id)
    return rows[0]["id"]  # type: ignore[no-any-return]


async def _pinned_list(project_id: int, application_id: int, app: str, name: str) -> ListRef:
    row = await DistributionList.select(DistributionList.id, DistributionList.application).where(
        (DistributionList.project == project_id) & (DistributionList.name == name)
    ).first()
    if row is None:
        rows = await DistributionList.insert(
            DistributionList(project=project_id, application=application_id, name=name)
        ).returning(DistributionList.id)
        return ListRef(id=rows[0]["id"], name=name, application=app)
    if row["application"] != application_id:
        raise Conflict(
            f"distribution_list: the project's list {name!r} is not pinned to application {app!r}"
        )
    return ListRef(id=row["id"], name=name, application=app)


async def unregister(tenants: TenantDirectory, org: str, prj: str, app: str, username: str) -> UnregisterResponse:
    """Remove the user's assignments from lists pinned to the application, its subscriptions to
    notifications of the application's events and its membership. 404 for an unknown user.

    `deleted` counts the list memberships removed, as the source system's unregister does (its
    existing clients read that key); the membership and subscriptions removed have their own keys.
    """
    application = await tenants.application(org, prj, app)
    user = await find_user(application.organization_id, username)
    async with write_transaction():
        assignments = [
            row["id"]
            for row in await Assignment.select(Assignment.id).where(Assignment.address.user == user["id"])
        ]
        members = subscriptions = 0
        if assignments:
            pinned = [
                row["id"]
                for row in await DistributionList.select(DistributionList.id).where(
                    DistributionList.application == application.id
                )
            ]
            if pinned:
                members = await _delete_counted(
                    DistributionListMember,
                    DistributionListMember.distribution_list.is_in(pinned)
                    & DistributionListMember.assignment.is_in(assignments),
                )
            notifications = [
                row["id"]
                for row in await Notification.select(Notification.id).where(
                    Notification.event.application == application.id
                )
            ]
            if notifications:
                subscriptions = await _delete_counted(
                    Subscription,
                    Subscription.notification.is_in(notifications) & Subscription.assignment.is_in(assignments),
                )
        memberships = await _delete_counted(
            ApplicationMembership,
            (ApplicationMembership.application == application.id) & (ApplicationMembership.user == user["id"]),
        )
    return UnregisterResponse(deleted=members, memberships=memberships, subscriptions=subscriptions)


async def _delete_counted(table: Any, condition: Any) -> int:
    count: int = await table.count().where(condition)
    if count:
        await table.delete().where(condition)
    return count


