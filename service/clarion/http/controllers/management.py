"""Manage projects, applications and events over the API (SPEC §3.3, grant `admin`).

Litestar (2.25) refuses two controllers that share a path (both bring an
automatic `OPTIONS` handler), so these handlers join the controllers that
already serve their paths: `ProjectManagementHandlers` is mixed into
`OrganizationController`, `EventManagementHandlers` into `EventController`.

Scope: an organization key manages everything in its organization; a project
key manages applications and events inside its project, an application key
events inside its application. Neither creates siblings of its own scope (the
guards refuse changes above a narrowed key), and neither changes or deletes the
project or application it is narrowed to (`not_scope_root`): that belongs to
the level above.
"""

from typing import Any

from litestar import Request, delete, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from clarion.auth.grants import Grant
from clarion.catalog import tenants as management
from clarion.errors import PermissionDenied
from clarion.http.body import read_body
from clarion.http.dependencies import Tenants
from clarion.http.guards import principal_of, requires
from clarion.organizations.schemas import ApplicationOut, EventDetailOut, ProjectOut

ADMIN = requires(Grant.ADMIN)


async def not_scope_root(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """403 when the path's last level is the project or application the key is narrowed to."""
    principal = principal_of(connection)
    path = connection.path_params
    if "app" in path and principal.application is not None:
        raise PermissionDenied(
            f"key is narrowed to application {principal.application!r} and cannot change or delete it"
        )
    if "app" not in path and principal.project is not None:
        raise PermissionDenied(f"key is narrowed to project {principal.project!r} and cannot change or delete it")


ITEM = [ADMIN, not_scope_root]


class ProjectManagementHandlers:
    """Mixed into `OrganizationController` (path `/api/o/{org}`)."""

    @post("/p/", operation_id="createProject", guards=[ADMIN], status_code=201)
    async def create_project(self, request: Request[Any, Any, Any], org: FromPath[str], tenants: Tenants) -> ProjectOut:
        """Create a project in the organization."""
        return await management.create_project(tenants, org, await read_body(request))

    @patch("/p/{prj:str}/", operation_id="updateProject", guards=ITEM)
    async def update_project(
        self, request: Request[Any, Any, Any], org: FromPath[str], prj: FromPath[str], tenants: Tenants
    ) -> ProjectOut:
        """Change a project's name or flags."""
        return await management.update_project(tenants, org, prj, await read_body(request))

    @delete("/p/{prj:str}/", operation_id="deleteProject", guards=ITEM)
    async def delete_project(self, org: FromPath[str], prj: FromPath[str], tenants: Tenants) -> None:
        """Delete an empty project (409 while it has applications, lists or active keys)."""
        await management.delete_project(tenants, org, prj)

    @post("/p/{prj:str}/a/", operation_id="createApplication", guards=[ADMIN], status_code=201)
    async def create_application(
        self, request: Request[Any, Any, Any], org: FromPath[str], prj: FromPath[str], tenants: Tenants
    ) -> ApplicationOut:
        """Create an application in the project."""
        return await management.create_application(tenants, org, prj, await read_body(request))

    @patch("/p/{prj:str}/a/{app:str}/", operation_id="updateApplication", guards=ITEM)
    async def update_application(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        tenants: Tenants,
    ) -> ApplicationOut:
        """Change an application's name or flags."""
        return await management.update_application(tenants, org, prj, app, await read_body(request))

    @delete("/p/{prj:str}/a/{app:str}/", operation_id="deleteApplication", guards=ITEM)
    async def delete_application(self, org: FromPath[str], prj: FromPath[str], app: FromPath[str], tenants: Tenants) -> None:
        """Delete an application without events, active keys, pinned lists or users (else 409)."""
        await management.delete_application(tenants, org, prj, app)


class EventManagementHandlers:
    """Mixed into `EventController` (path `/api/o/{org}/p/{prj}/a/{app}/e`)."""

    @post("/", operation_id="createEvent", guards=[ADMIN], status_code=201)
    async def create_event(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        tenants: Tenants,
    ) -> EventDetailOut:
        """Create an event in the application."""
        return await management.create_event(tenants, org, prj, app, await read_body(request))

    @patch("/{evt:str}/", operation_id="updateEvent", guards=[ADMIN])
    async def update_event(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        tenants: Tenants,
    ) -> EventDetailOut:
        """Change an event's name, description or flags (triggers see the flags within a second)."""
        return await management.update_event(tenants, org, prj, app, evt, await read_body(request))

    @delete("/{evt:str}/", operation_id="deleteEvent", guards=[ADMIN])
    async def delete_event(
        self, org: FromPath[str], prj: FromPath[str], app: FromPath[str], evt: FromPath[str], tenants: Tenants
    ) -> None:
        """Delete an event that has no occurrences (else 409), with its notifications and templates."""
        await management.delete_event(tenants, org, prj, app, evt)
