"""Distribution lists of a project and their members (SPEC §3.2); subscriptions: `clarion.notifications.subscriptions`.

A project (or organization) key sees every list of the project; an application
key only the lists pinned to its application (others are 404 for it, and the
lists it creates are pinned to it). `add` takes address values: every assignment
of every address of the organization's users with that value joins the list
(an address on two channels adds two members). It is all or nothing, as in the
source system: a value no address has is a 400 naming it, and nothing is added.
Addresses with no assignment are reported in `unassigned`, and assignments
already in the list in `already` — neither is an error.
"""

from typing import Any

from clarion.auth.services import ApiPrincipal
from clarion.channels.addresses import AddressKinds
from clarion.db.engine import write_transaction
from clarion.distribution.schemas import (
    AddressValues,
    AddResult,
    ListCreate,
    ListOut,
    MemberOut,
)
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.errors import BadRequest, Conflict, NotFound, PermissionDenied
from clarion.organizations.services import ProjectRef, TenantDirectory
from clarion.organizations.tables import Application
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.users.tables import Address, Assignment

_LIST_COLUMNS = (
    DistributionList.id,
    DistributionList.name,
    DistributionList.application.slug.as_alias("application_slug"),
)
_MEMBER_COLUMNS = (
    DistributionListMember.id,
    DistributionListMember.assignment.id.as_alias("assignment_id"),
    DistributionListMember.assignment.channel.as_alias("channel"),
    DistributionListMember.assignment.active.as_alias("active"),
    DistributionListMember.assignment.address.name.as_alias("address_name"),
    DistributionListMember.assignment.address.value.as_alias("address_value"),
    DistributionListMember.assignment.address.kind.as_alias("address_kind"),
    DistributionListMember.assignment.address.user.username.as_alias("username"),
)


def _list_out(row: dict[str, Any]) -> ListOut:
    return ListOut(id=row["id"], name=row["name"], application=row["application_slug"])


def _member_out(row: dict[str, Any], kinds: AddressKinds) -> MemberOut:
    return MemberOut(
        id=row["assignment_id"],
        user=row["username"],
        address=kinds.shown(row["address_value"], row["address_kind"]),
        address_name=row["address_name"],
        channel=row["channel"],
        active=bool(row["active"]),
    )


def _visible(project: ProjectRef, principal: ApiPrincipal) -> Any:
    condition = DistributionList.project == project.id
    if principal.application_id is not None:
        condition &= DistributionList.application == principal.application_id
    return condition


async def _find_list(tenants: TenantDirectory, principal: ApiPrincipal, org: str, prj: str, pk: int) -> ListOut:
    project = await tenants.project(org, prj)
    condition = _visible(project, principal) & (DistributionList.id == pk)
    row = await DistributionList.select(*_LIST_COLUMNS).where(condition).first()
    if row is None:
        raise NotFound(f"unknown distribution list {pk}")
    return _list_out(row)


async def list_lists(
    tenants: TenantDirectory, principal: ApiPrincipal, org: str, prj: str, page: PageRequest
) -> Page[ListOut]:
    project = await tenants.project(org, prj)
    query = DistributionList.select(*_LIST_COLUMNS).where(_visible(project, principal))
    return (await page_of_query(query, page, key=DistributionList.id)).map(_list_out)


async def read_list(tenants: TenantDirectory, principal: ApiPrincipal, org: str, prj: str, pk: int) -> ListOut:
    return await _find_list(tenants, principal, org, prj, pk)


async def create_list(
    tenants: TenantDirectory, principal: ApiPrincipal, org: str, prj: str, request: ListCreate
) -> ListOut:
    project = await tenants.project(org, prj)
    application = request.application
    if principal.application is not None:
        if application not in (None, principal.application):
            raise PermissionDenied(f"key is not valid for application {application!r}")
        application = principal.application
    application_id = None
    if application is not None:
        row = await Application.select(Application.id).where(
            (Application.project == project.id) & (Application.slug == application)
        ).first()
        if row is None:
            raise BadRequest(f"application: project {prj!r} has no application {application!r}")
        application_id = row["id"]
    async with write_transaction():
        if await DistributionList.exists().where(
            (DistributionList.project == project.id) & (DistributionList.name == request.name)
        ):
            raise Conflict(f"name: project {prj!r} already has a distribution list named {request.name!r}")
        rows = await DistributionList.insert(
            DistributionList(project=project.id, application=application_id, name=request.name)
        ).returning(DistributionList.id)
    return ListOut(id=rows[0]["id"], name=request.name, application=application)


async def list_members(
    tenants: TenantDirectory,
    kinds: AddressKinds,
    principal: ApiPrincipal,
    org: str,
    prj: str,
    pk: int,
    page: PageRequest,
) -> Page[MemberOut]:
    found = await _find_list(tenants, principal, org, prj, pk)
    query = DistributionListMember.select(*_MEMBER_COLUMNS).where(
        DistributionListMember.distribution_list == found.id
    )
    return (await page_of_query(query, page, key=DistributionListMember.id)).map(lambda row: _member_out(row, kinds))


async def add_members(
    tenants: TenantDirectory,
    kinds: AddressKinds,
    principal: ApiPrincipal,
    org: str,
    prj: str,
    pk: int,
    addresses: AddressValues,
) -> AddResult:
    """All or nothing: a value no address of the organization's users has is a 400 naming every such
    value, and then nothing is added."""
    found = await _find_list(tenants, principal, org, prj, pk)
    organization = await tenants.organization(org)
    values = list(dict.fromkeys(addresses))
    if not values:
        return AddResult(added=[], already=[], unassigned=[])
    address = Assignment.address
    added: list[int] = []
    already: list[int] = []
    async with write_transaction():
        known = {
            row["value"]
            for row in await Address.select(Address.value).where(
                Address.value.is_in(values) & (Address.user.organization == organization.id)
            )
        }
        unknown = [value for value in values if value not in known]
        if unknown:
            raise BadRequest(
                f"body: no address of organization {org!r} has the value"
                f" {', '.join(repr(kinds.shown(value)) for value in unknown)} (nothing was added)"
            )
        rows = await Assignment.select(Assignment.id, address.value.as_alias("value")).where(
            address.value.is_in(values) & (address.user.organization == organization.id)
        ).order_by(Assignment.id)
        members = {
            row["assignment"]
            for row in await DistributionListMember.select(DistributionListMember.assignment).where(
                DistributionListMember.distribution_list == found.id
            )
        }
        for row in rows:
            if row["id"] in members:
                already.append(row["id"])
                continue
            await DistributionListMember.insert(
                DistributionListMember(distribution_list=found.id, assignment=row["id"])
            )
            added.append(row["id"])
    assigned = {row["value"] for row in rows}
    member_rows = []
    if added:
        member_rows = await DistributionListMember.select(*_MEMBER_COLUMNS).where(
            (DistributionListMember.distribution_list == found.id) & DistributionListMember.assignment.is_in(added)
        ).order_by(DistributionListMember.id)
    return AddResult(
        added=[_member_out(row, kinds) for row in member_rows],
        already=already,
        unassigned=[kinds.shown(value) for value in values if value not in assigned],
    )
