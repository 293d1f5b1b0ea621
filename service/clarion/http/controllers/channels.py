"""`GET` the configured channels (SPEC §3.2) and the loaded plugins (SPEC §3.3)."""

from typing import Any

from litestar import Controller, Request, Response, get

from clarion.auth.grants import Grant
from clarion.channels import services
from clarion.channels.schemas import ChannelOut, PluginsOut
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.dependencies import RuntimeDependency
from clarion.http.guards import requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import OrganizationAt, ProjectAt

READ = [requires(Grant.ORGANIZATION_READ)]


class ChannelController(Controller):
    path = "/api/o/{org:str}"
    tags = ["channels"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/c/", operation_id="listChannels", guards=READ, response_headers=LINK_HEADER)
    async def list_channels(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, page: RequestedPage,
        runtime: RuntimeDependency,
    ) -> Response[list[ChannelOut]]:
        """The channels configured in this service, with their type and whether they are enabled."""
        return list_response(services.list_channels(runtime.channels, page), request)

    @get("/p/{prj:str}/c/", operation_id="listProjectChannels", guards=READ, response_headers=LINK_HEADER)
    async def list_project_channels(
        self, request: Request[Any, Any, Any], project: ProjectAt, page: RequestedPage, runtime: RuntimeDependency
    ) -> Response[list[ChannelOut]]:
        """The channels a project can use: every configured channel."""
        return list_response(services.list_channels(runtime.channels, page), request)


class PluginController(Controller):
    path = "/api/plugins"
    tags = ["channels"]
    security = API_KEY_REQUIRED

    @get("/", operation_id="listPlugins", guards=[requires(Grant.ADMIN)])
    async def list_plugins(self, runtime: RuntimeDependency) -> PluginsOut:
        """Loaded plugins, the channel types they provide, and plugins that failed to load."""
        return services.describe_plugins(runtime.channels)
