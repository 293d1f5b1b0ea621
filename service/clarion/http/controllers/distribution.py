"""Distribution lists of a project and direct subscriptions to notifications (SPEC §3.2)."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, QueryParameter

from clarion.auth.grants import Grant
from clarion.distribution import services
from clarion.distribution.schemas import AddResult, ListOut, MemberOut, SubscriptionOut, Unsubscribed
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import read_body
from clarion.http.dependencies import RuntimeDependency, Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.notifications import subscriptions

READ = [requires(Grant.DISTRIBUTIONLIST_READ)]
# An application key manages the lists pinned to its application, which live at project level.
WRITE = [requires(Grant.DISTRIBUTIONLIST_WRITE, parents="write")]
APPLICATION_USERS = [requires(Grant.APPLICATION_USERS)]


class DistributionListController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/d"
    tags = ["distribution lists"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="listDistributionLists", guards=READ, response_headers=LINK_HEADER)
    async def list_lists(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        page: RequestedPage,
        tenants: Tenants,
    ) -> Response[list[ListOut]]:
        """The project's lists (an application key: those pinned to its application)."""
        lists = await services.list_lists(tenants, principal_of(request), org, prj, page)
        return list_response(lists, request)

    @post("/", operation_id="createDistributionList", guards=WRITE, status_code=201)
    async def create_list(
        self, request: Request[Any, Any, Any], org: FromPath[str], prj: FromPath[str], tenants: Tenants
    ) -> ListOut:
        """Create a list, optionally pinned to an application (409 if the name is taken)."""
        return await services.create_list(tenants, principal_of(request), org, prj, await read_body(request))

    @get("/{pk:int}/", operation_id="readDistributionList", guards=READ)
    async def read_list(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        pk: FromPath[int],
        tenants: Tenants,
    ) -> ListOut:
        """One list."""
        return await services.read_list(tenants, principal_of(request), org, prj, pk)

    @get("/{pk:int}/m/", operation_id="listDistributionListMembers", guards=READ, response_headers=LINK_HEADER)
    async def list_members(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        pk: FromPath[int],
        page: RequestedPage,
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> Response[list[MemberOut]]:
        """The list's members: assignments with their user, address (secrets redacted) and channel."""
        kinds = runtime.channels.address_kinds
        members = await services.list_members(tenants, kinds, principal_of(request), org, prj, pk, page)
        return list_response(members, request)

    @post("/{pk:int}/add/", operation_id="addDistributionListMembers", guards=WRITE, status_code=200)
    async def add_members(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        pk: FromPath[int],
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> AddResult:
        """Add the assignments of the addresses with the given values (a JSON list)."""
        body = await read_body(request)
        kinds = runtime.channels.address_kinds
        return await services.add_members(tenants, kinds, principal_of(request), org, prj, pk, body)


class SubscriptionController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}/n/{pk:int}/subscribe"
    tags = ["distribution lists"]
    security = API_KEY_REQUIRED

    @post("/", operation_id="subscribe", guards=APPLICATION_USERS)
    async def subscribe(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        pk: FromPath[int],
        tenants: Tenants,
    ) -> Response[SubscriptionOut]:
        """Subscribe an assignment to the notification (201 new, 200 updated)."""
        body = await read_body(request)
        out, created = await subscriptions.subscribe(tenants, org, prj, app, pk, body)
        return Response(out, status_code=201 if created else 200)

    @delete("/", operation_id="unsubscribe", guards=APPLICATION_USERS, status_code=200)
    async def unsubscribe(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        pk: FromPath[int],
        tenants: Tenants,
        assignment: Annotated[str | None, QueryParameter(name="assignment", description="assignment id")] = None,
    ) -> Unsubscribed:
        """Remove an assignment's subscription (`{"assignment": id}` in the body or `?assignment=`)."""
        body = await read_body(request)
        return await subscriptions.unsubscribe(tenants, org, prj, app, pk, body, assignment)
