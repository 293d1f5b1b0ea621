"""`GET` the organization, its projects and applications (SPEC §3.2, `organization:read`);
the management handlers of SPEC §3.3 are mixed in from `management`."""

from typing import Any

from litestar import Controller, Request, Response, get

from clarion.auth.grants import Grant
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.controllers.management import ProjectManagementHandlers
from clarion.http.dependencies import Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import ApplicationAt, OrganizationAt, ProjectAt
from clarion.organizations import services
from clarion.organizations.schemas import ApplicationOut, OrganizationOut, ProjectOut

READ = [requires(Grant.ORGANIZATION_READ)]


class OrganizationController(ProjectManagementHandlers, Controller):
    """The reads of SPEC §3.2, plus managing projects and applications (`ProjectManagementHandlers`)."""

    path = "/api/o/{org:str}"
    tags = ["organizations"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="readOrganization", guards=READ)
    async def read_organization(self, organization: OrganizationAt, tenants: Tenants) -> OrganizationOut:
        """The organization the key belongs to."""
        return await services.read_organization(tenants, organization.org)

    @get("/p/", operation_id="listProjects", guards=READ, response_headers=LINK_HEADER)
    async def list_projects(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, page: RequestedPage, tenants: Tenants
    ) -> Response[list[ProjectOut]]:
        """The organization's projects (a narrowed key sees its own only)."""
        projects = await services.list_projects(tenants, organization.org, page, only=principal_of(request).project)
        return list_response(projects, request)

    @get("/p/{prj:str}/", operation_id="readProject", guards=READ)
    async def read_project(self, project: ProjectAt, tenants: Tenants) -> ProjectOut:
        """One project."""
        return await services.read_project(tenants, project.org, project.prj)

    @get("/p/{prj:str}/a/", operation_id="listApplications", guards=READ, response_headers=LINK_HEADER)
    async def list_applications(
        self, request: Request[Any, Any, Any], project: ProjectAt, page: RequestedPage, tenants: Tenants
    ) -> Response[list[ApplicationOut]]:
        """The project's applications (an application key sees its own only)."""
        only = principal_of(request).application
        applications = await services.list_applications(tenants, project.org, project.prj, page, only=only)
        return list_response(applications, request)

    @get("/p/{prj:str}/a/{app:str}/", operation_id="readApplication", guards=READ)
    async def read_application(self, application: ApplicationAt, tenants: Tenants) -> ApplicationOut:
        """One application."""
        return await services.read_application(tenants, application.org, application.prj, application.app)
