"""`GET` the organization, its projects and a project's applications (SPEC §3.2, `organization:read`);
the management handlers of SPEC §3.3 are mixed in from `management_controllers`."""

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath

from clarion.auth.grants import Grant
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.controllers.management import ProjectManagementHandlers
from clarion.http.dependencies import Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
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
    async def read_organization(self, org: FromPath[str], tenants: Tenants) -> OrganizationOut:
        """The organization the key belongs to."""
        return await services.read_organization(tenants, org)

    @get("/p/", operation_id="listProjects", guards=READ, response_headers=LINK_HEADER)
    async def list_projects(
        self, request: Request[Any, Any, Any], org: FromPath[str], page: RequestedPage, tenants: Tenants
    ) -> Response[list[ProjectOut]]:
        """The organization's projects (a narrowed key sees its own only)."""
        projects = await services.list_projects(tenants, org, page, only=principal_of(request).project)
        return list_response(projects, request)

    @get("/p/{prj:str}/", operation_id="readProject", guards=READ)
    async def read_project(self, org: FromPath[str], prj: FromPath[str], tenants: Tenants) -> ProjectOut:
        """One project."""
        return await services.read_project(tenants, org, prj)

    @get("/p/{prj:str}/a/", operation_id="listApplications", guards=READ, response_headers=LINK_HEADER)
    async def list_applications(
        self, request: Request[Any, Any, Any], org: FromPath[str], prj: FromPath[str], page: RequestedPage, tenants: Tenants
    ) -> Response[list[ApplicationOut]]:
        """The project's applications (an application key sees its own only)."""
        applications = await services.list_applications(tenants, org, prj, page, only=principal_of(request).application)
        return list_response(applications, request)
