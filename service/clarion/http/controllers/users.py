"""Users, addresses and assignments of an organization; an application's register/unregister (SPEC §3.2, §3.3)."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, QueryParameter

from clarion.auth.grants import Grant
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import Decoded, decoded
from clarion.http.dependencies import RuntimeDependency, Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import ApplicationAt, OrganizationAt
from clarion.http.responses import created_below, creates
from clarion.membership import assignments, registration
from clarion.users import services
from clarion.users.schemas import (
    AddressCreate,
    AddressOut,
    AssignmentCreate,
    AssignmentOut,
    RegisterRequest,
    RegisterResponse,
    UnregisterResponse,
    UserCreate,
    UserOut,
    UserReplace,
    UserUpdate,
)

READ = [requires(Grant.USER_READ)]
# Users belong to the organization: narrowed keys with `user:write` change them too.
WRITE = [requires(Grant.USER_WRITE, parents="write")]
APPLICATION_USERS = [requires(Grant.APPLICATION_USERS)]

ModeQuery = Annotated[
    str | None,
    QueryParameter(name="_mode", description="custom_fields mode when the payload has no `_mode`"),
]


class UserController(Controller):
    path = "/api/o/{org:str}/u"
    tags = ["users"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="listUsers", guards=READ, response_headers=LINK_HEADER)
    async def list_users(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, page: RequestedPage, tenants: Tenants
    ) -> Response[list[UserOut]]:
        """The organization's users, by username."""
        return list_response(await services.list_users(tenants, organization.org, page), request)

    @post(
        "/",
        operation_id="createUser",
        guards=WRITE,
        **creates(UserCreate, after="organization"),
    )
    async def create_user(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, payload: Decoded[UserCreate], tenants: Tenants
    ) -> Response[UserOut]:
        """Create a user (409 if the username exists)."""
        user = await services.create_user(tenants, organization.org, payload)
        return created_below(user, request, user.username)

    @get("/{username:str}/", operation_id="readUser", guards=READ)
    async def read_user(self, organization: OrganizationAt, username: FromPath[str], tenants: Tenants) -> UserOut:
        """One user."""
        return await services.read_user(tenants, organization.org, username)

    @put(
        "/{username:str}/",
        operation_id="replaceUser",
        guards=WRITE,
        dependencies=decoded(UserReplace, after="user"),
    )
    async def replace_user(
        self,
        organization: OrganizationAt,
        username: FromPath[str],
        payload: Decoded[UserReplace],
        tenants: Tenants,
        mode: ModeQuery = None,
    ) -> UserOut:
        """Replace the user's fields (absent ones reset to their defaults)."""
        return await services.change_user(tenants, organization.org, username, payload, query_mode=mode)

    @patch(
        "/{username:str}/",
        operation_id="updateUser",
        guards=WRITE,
        dependencies=decoded(UserUpdate, after="user"),
    )
    async def update_user(
        self,
        organization: OrganizationAt,
        username: FromPath[str],
        payload: Decoded[UserUpdate],
        tenants: Tenants,
        mode: ModeQuery = None,
    ) -> UserOut:
        """Change the fields given."""
        return await services.change_user(tenants, organization.org, username, payload, query_mode=mode)

    @get("/{username:str}/address/", operation_id="listAddresses", guards=READ, response_headers=LINK_HEADER)
    async def list_addresses(
        self,
        request: Request[Any, Any, Any],
        organization: OrganizationAt,
        username: FromPath[str],
        page: RequestedPage,
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> Response[list[AddressOut]]:
        """The user's addresses, by name (secrets in values redacted)."""
        kinds = runtime.channels.address_kinds
        return list_response(await services.list_addresses(tenants, kinds, organization.org, username, page), request)

    @post(
        "/{username:str}/address/",
        operation_id="createAddress",
        guards=WRITE,
        status_code=201,
        dependencies=decoded(AddressCreate, after="user"),
    )
    async def create_address(
        self,
        organization: OrganizationAt,
        username: FromPath[str],
        payload: Decoded[AddressCreate],
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> AddressOut:
        """Add an address; its kind is the one given or derived from the value, and checked (409 if the name is taken)."""
        kinds = runtime.channels.address_kinds
        return await services.create_address(tenants, kinds, organization.org, username, payload)

    @get(
        "/{username:str}/assignments/", operation_id="listAssignments", guards=WRITE, response_headers=LINK_HEADER
    )
    async def list_assignments(
        self,
        request: Request[Any, Any, Any],
        organization: OrganizationAt,
        username: FromPath[str],
        page: RequestedPage,
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> Response[list[AssignmentOut]]:
        """The user's assignments (address on a channel)."""
        kinds = runtime.channels.address_kinds
        page_of = await assignments.list_assignments(tenants, kinds, organization.org, username, page)
        return list_response(page_of, request)

    @post(
        "/{username:str}/assignments/",
        operation_id="createAssignment",
        guards=WRITE,
        **creates(AssignmentCreate, after="user"),
    )
    async def create_assignment(
        self,
        request: Request[Any, Any, Any],
        organization: OrganizationAt,
        username: FromPath[str],
        payload: Decoded[AssignmentCreate],
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> Response[AssignmentOut]:
        """Assign one of the user's addresses to a configured channel that accepts its kind."""
        assignment = await assignments.create_assignment(runtime.channels, tenants, organization.org, username, payload)
        return created_below(assignment, request, assignment.id)

    @delete("/{username:str}/assignments/{pk:int}/", operation_id="deleteAssignment", guards=WRITE)
    async def delete_assignment(
        self,
        request: Request[Any, Any, Any],
        organization: OrganizationAt,
        username: FromPath[str],
        pk: FromPath[int],
        tenants: Tenants,
    ) -> None:
        """Delete an assignment (with its list memberships and subscriptions; a narrowed key: only inside its scope)."""
        await assignments.delete_assignment(tenants, principal_of(request), organization.org, username, pk)


class RegistrationController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}"
    tags = ["users"]
    security = API_KEY_REQUIRED

    @post(
        "/register/",
        operation_id="registerUser",
        guards=APPLICATION_USERS,
        status_code=200,
        dependencies=decoded(RegisterRequest, after="application"),
    )
    async def register(
        self, application: ApplicationAt, payload: Decoded[RegisterRequest], tenants: Tenants, runtime: RuntimeDependency
    ) -> RegisterResponse:
        """Register a user with the application (idempotent)."""
        at = application
        return await registration.register(runtime.channels, tenants, at.org, at.prj, at.app, payload)

    @post("/unregister/{username:str}/", operation_id="unregisterUser", guards=APPLICATION_USERS, status_code=200)
    async def unregister(self, application: ApplicationAt, username: FromPath[str], tenants: Tenants) -> UnregisterResponse:
        """Remove the user's membership, pinned-list memberships and subscriptions in the application."""
        at = application
        return await registration.unregister(tenants, at.org, at.prj, at.app, username)
