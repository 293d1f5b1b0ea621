"""Distribution lists of a project and direct subscriptions to notifications (SPEC §3.2)."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from clarion.auth.grants import Grant
from clarion.decoding import decode_body
from clarion.distribution import services
from clarion.distribution.schemas import (
    AddressValues,
    AddResult,
    ListCreate,
    ListOut,
    MemberOut,
    SubscribeRequest,
    SubscriptionOut,
    Unsubscribed,
    UnsubscribeRequest,
)
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import Decoded, decoded
from clarion.http.dependencies import RuntimeDependency, Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import ApplicationAt, ProjectAt
from clarion.http.responses import created_below, creates
from clarion.notifications import subscriptions

READ = [requires(Grant.DISTRIBUTIONLIST_READ)]
# An application key manages the lists pinned to its application, which live at project level.
WRITE = [requires(Grant.DISTRIBUTIONLIST_WRITE, parents="write")]
APPLICATION_USERS = [requires(Grant.APPLICATION_USERS)]


def _optional_unsubscribe(body: bytes) -> UnsubscribeRequest | None:
    """`{"assignment": id}`, or nothing (then `?assignment=` says which)."""
    return decode_body(body, UnsubscribeRequest) if body.strip() else None


class DistributionListController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/d"
    tags = ["distribution lists"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="listDistributionLists", guards=READ, response_headers=LINK_HEADER)
    async def list_lists(
        self, request: Request[Any, Any, Any], project: ProjectAt, page: RequestedPage, tenants: Tenants
    ) -> Response[list[ListOut]]:
        """The project's lists (an application key: those pinned to its application)."""
        lists = await services.list_lists(tenants, principal_of(request), project.org, project.prj, page)
        return list_response(lists, request)

    @post(
        "/",
        operation_id="createDistributionList",
        guards=WRITE,
        **creates(ListCreate, after="project"),
    )
    async def create_list(
        self, request: Request[Any, Any, Any], project: ProjectAt, payload: Decoded[ListCreate], tenants: Tenants
    ) -> Response[ListOut]:
        """Create a list, optionally pinned to an application (409 if the name is taken)."""
        created = await services.create_list(tenants, principal_of(request), project.org, project.prj, payload)
        return created_below(created, request, created.id)

    @get("/{pk:int}/", operation_id="readDistributionList", guards=READ)
    async def read_list(
        self, request: Request[Any, Any, Any], project: ProjectAt, pk: FromPath[int], tenants: Tenants
    ) -> ListOut:
        """One list."""
        return await services.read_list(tenants, principal_of(request), project.org, project.prj, pk)

    @get("/{pk:int}/m/", operation_id="listDistributionListMembers", guards=READ, response_headers=LINK_HEADER)
    async def list_members(
        self,
        request: Request[Any, Any, Any],
        project: ProjectAt,
        pk: FromPath[int],
        page: RequestedPage,
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> Response[list[MemberOut]]:
        """The list's members: assignments with their user, address (secrets redacted) and channel."""
        kinds = runtime.channels.address_kinds
        members = await services.list_members(tenants, kinds, principal_of(request), project.org, project.prj, pk, page)
        return list_response(members, request)

    @post(
        "/{pk:int}/add/",
        operation_id="addDistributionListMembers",
        guards=WRITE,
        status_code=200,
        dependencies=decoded(AddressValues, after="distribution_list"),
    )
    async def add_members(
        self,
        request: Request[Any, Any, Any],
        project: ProjectAt,
        pk: FromPath[int],
        payload: Decoded[AddressValues],
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> AddResult:
        """Add the assignments of the addresses with the given values (a JSON list)."""
        kinds = runtime.channels.address_kinds
        return await services.add_members(tenants, kinds, principal_of(request), project.org, project.prj, pk, payload)


class SubscriptionController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}/n/{pk:int}/subscribe"
    tags = ["distribution lists"]
    security = API_KEY_REQUIRED

    @post(
        "/",
        operation_id="subscribe",
        guards=APPLICATION_USERS,
        status_code=200,
        dependencies=decoded(SubscribeRequest, after="application_notification"),
        responses={201: ResponseSpec(SubscriptionOut, description="Created: the assignment was not subscribed")},
    )
    async def subscribe(
        self, application: ApplicationAt, pk: FromPath[int], payload: Decoded[SubscribeRequest], tenants: Tenants
    ) -> Response[SubscriptionOut]:
        """Subscribe an assignment to the notification (201 new, 200 updated)."""
        at = application
        out, was_created = await subscriptions.subscribe(tenants, at.org, at.prj, at.app, pk, payload)
        return Response(out, status_code=201 if was_created else 200)

    @delete(
        "/",
        operation_id="unsubscribe",
        guards=APPLICATION_USERS,
        status_code=200,
        dependencies=decoded(
            UnsubscribeRequest, after="application_notification", decode=_optional_unsubscribe, required=False
        ),
    )
    async def unsubscribe(
        self,
        application: ApplicationAt,
        pk: FromPath[int],
        payload: Decoded[UnsubscribeRequest | None],
        tenants: Tenants,
        assignment: Annotated[str | None, QueryParameter(name="assignment", description="assignment id")] = None,
    ) -> Unsubscribed:
        """Remove an assignment's subscription (`{"assignment": id}` in the body or `?assignment=`)."""
        at = application
        return await subscriptions.unsubscribe(tenants, at.org, at.prj, at.app, pk, payload, assignment)
