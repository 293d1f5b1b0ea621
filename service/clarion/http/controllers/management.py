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

from litestar import Request, Response, delete, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from clarion.auth.grants import Grant
from clarion.catalog import tenants as management
from clarion.errors import PermissionDenied
from clarion.http.body import Decoded, decoded
from clarion.http.dependencies import Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.paths import ApplicationAt, EventAt, OrganizationAt, ProjectAt
from clarion.http.responses import created_below, creates
from clarion.organizations.schemas import (
    ApplicationOut,
    EventDetailOut,
    EventIn,
    EventPatch,
    FlaggedIn,
    FlaggedPatch,
    ProjectOut,
)

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

    @post(
        "/p/",
        operation_id="createProject",
        guards=[ADMIN],
        **creates(FlaggedIn, after="organization", empty_is_default=True),
    )
    async def create_project(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, payload: Decoded[FlaggedIn], tenants: Tenants
    ) -> Response[ProjectOut]:
        """Create a project in the organization."""
        project = await management.create_project(tenants, organization.org, payload)
        return created_below(project, request, project.slug)

    @patch(
        "/p/{prj:str}/",
        operation_id="updateProject",
        guards=ITEM,
        dependencies=decoded(FlaggedPatch, after="project", empty_is_default=True),
    )
    async def update_project(self, project: ProjectAt, payload: Decoded[FlaggedPatch], tenants: Tenants) -> ProjectOut:
        """Change a project's name or flags."""
        return await management.update_project(tenants, project.org, project.prj, payload)

    @delete("/p/{prj:str}/", operation_id="deleteProject", guards=ITEM)
    async def delete_project(self, project: ProjectAt, tenants: Tenants) -> None:
        """Delete an empty project (409 while it has applications, lists or active keys)."""
        await management.delete_project(tenants, project.org, project.prj)

    @post(
        "/p/{prj:str}/a/",
        operation_id="createApplication",
        guards=[ADMIN],
        **creates(FlaggedIn, after="project", empty_is_default=True),
    )
    async def create_application(
        self, request: Request[Any, Any, Any], project: ProjectAt, payload: Decoded[FlaggedIn], tenants: Tenants
    ) -> Response[ApplicationOut]:
        """Create an application in the project."""
        application = await management.create_application(tenants, project.org, project.prj, payload)
        return created_below(application, request, application.slug)

    @patch(
        "/p/{prj:str}/a/{app:str}/",
        operation_id="updateApplication",
        guards=ITEM,
        dependencies=decoded(FlaggedPatch, after="application", empty_is_default=True),
    )
    async def update_application(
        self, application: ApplicationAt, payload: Decoded[FlaggedPatch], tenants: Tenants
    ) -> ApplicationOut:
        """Change an application's name or flags."""
        return await management.update_application(
            tenants, application.org, application.prj, application.app, payload
        )

    @delete("/p/{prj:str}/a/{app:str}/", operation_id="deleteApplication", guards=ITEM)
    async def delete_application(self, application: ApplicationAt, tenants: Tenants) -> None:
        """Delete an application without events, active keys, pinned lists or users (else 409)."""
        await management.delete_application(tenants, application.org, application.prj, application.app)


class EventManagementHandlers:
    """Mixed into `EventController` (path `/api/o/{org}/p/{prj}/a/{app}/e`)."""

    @post(
        "/",
        operation_id="createEvent",
        guards=[ADMIN],
        **creates(EventIn, after="application", empty_is_default=True),
    )
    async def create_event(
        self, request: Request[Any, Any, Any], application: ApplicationAt, payload: Decoded[EventIn], tenants: Tenants
    ) -> Response[EventDetailOut]:
        """Create an event in the application."""
        at = application
        event = await management.create_event(tenants, at.org, at.prj, at.app, payload)
        return created_below(event, request, event.slug)

    @patch(
        "/{evt:str}/",
        operation_id="updateEvent",
        guards=[ADMIN],
        dependencies=decoded(EventPatch, after="event", empty_is_default=True),
    )
    async def update_event(self, event: EventAt, payload: Decoded[EventPatch], tenants: Tenants) -> EventDetailOut:
        """Change an event's name, description or flags (triggers see the flags within a second)."""
        return await management.update_event(tenants, event.org, event.prj, event.app, event.evt, payload)

    @delete("/{evt:str}/", operation_id="deleteEvent", guards=[ADMIN])
    async def delete_event(self, event: EventAt, tenants: Tenants) -> None:
        """Delete an event that has no occurrences (else 409), with its notifications and templates."""
        await management.delete_event(tenants, event.org, event.prj, event.app, event.evt)
