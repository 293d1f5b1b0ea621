"""The one place the Litestar app is built."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from clarion.http.authentication import OPENAPI_COMPONENTS, ApiKeyAuthenticationMiddleware, api_keys_lifespan
from clarion.http.body import check_path_and_query
from clarion.http.console import console_handler
from clarion.http.controllers.channels import ChannelController, PluginController
from clarion.http.controllers.distribution import DistributionListController, SubscriptionController
from clarion.http.controllers.events import EventController
from clarion.http.controllers.health import HealthController
from clarion.http.controllers.keys import ApiKeyController
from clarion.http.controllers.metrics import MetricsController
from clarion.http.controllers.notifications import NotificationController
from clarion.http.controllers.occurrences import OccurrenceController
from clarion.http.controllers.organizations import OrganizationController
from clarion.http.controllers.ping import PingController
from clarion.http.controllers.users import RegistrationController, UserController
from clarion.http.problems import problem_details_plugin, unexpected_error_response
from clarion.http.dependencies import provide_events, provide_runtime, provide_tenants
from clarion.http.docs_ui import swagger_ui, swagger_ui_assets
from clarion.http.openapi import complete_openapi
from clarion.http.paths import PATH_DEPENDENCIES
from clarion.http.responses import options_response
from clarion.http.ratelimit import RateLimitMiddleware, rate_limit_lifespan
from clarion.http.requestlog import RequestLogMiddleware, stamp_response
from clarion.process import open_runtime
from clarion.settings import Settings

ROUTE_HANDLERS = [
    HealthController,
    MetricsController,
    PingController,
    OrganizationController,
    EventController,
    OccurrenceController,
    NotificationController,
    ChannelController,
    PluginController,
    UserController,
    RegistrationController,
    DistributionListController,
    SubscriptionController,
    ApiKeyController,
]



class ClarionPlugin(InitPlugin):
    """Cross-cutting wiring: dependencies, error mapping, lifespan resources, routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self._add_dependencies(app_config)
        self._add_exception_handlers(app_config)
        app_config.lifespan.append(self._lifespan)
        app_config.lifespan.append(api_keys_lifespan)  # after the engine starts, so its last flush precedes close
        # Request ids: the logging context around every middleware, the header (and access line) on every response.
        app_config.middleware.insert(0, RequestLogMiddleware)
        app_config.before_send.append(stamp_response(self.settings.logging.access_log))
        app_config.middleware.append(DefineMiddleware(ApiKeyAuthenticationMiddleware))
        app_config.lifespan.append(rate_limit_lifespan(self.settings.rate_limit))
        app_config.middleware.append(RateLimitMiddleware)  # inside authentication: it counts per key
        # After the guards (401/403), before the handler: NULs in path and query, impossible path ids.
        # (A `before_request` on a controller or handler would replace this one: there is none.)
        app_config.before_request = _before_request
        app_config.route_handlers.extend([*ROUTE_HANDLERS, swagger_ui_assets()])
        if self.settings.admin.enabled:
            app_config.route_handlers.append(console_handler(self.settings.admin))
        return app_config

    def _add_dependencies(self, app_config: AppConfig) -> None:
        settings = self.settings
        app_config.dependencies["settings"] = Provide(lambda: settings, use_cache=True, sync_to_thread=False)
        app_config.dependencies["runtime"] = Provide(provide_runtime, sync_to_thread=False)
        app_config.dependencies["tenants"] = Provide(provide_tenants, sync_to_thread=False)
        app_config.dependencies["events"] = Provide(provide_events, sync_to_thread=False)
        app_config.dependencies.update(PATH_DEPENDENCIES)  # organization, project, application, event

    def _add_exception_handlers(self, app_config: AppConfig) -> None:
        # Known exceptions become their RFC 9457 problem (`problem_details_plugin`, registered next to this
        # plugin); everything else that is not an HTTPException: 503 if the database cannot serve, else a logged 500.
        app_config.exception_handlers[HTTP_500_INTERNAL_SERVER_ERROR] = unexpected_error_response

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        async with open_runtime(self.settings, dispatcher=self.settings.dispatch.embedded) as runtime:
            app.state.runtime = runtime
            yield


async def _before_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """`OPTIONS` lists every method of the path; any other request has its path and query checked."""
    if request.method == "OPTIONS":
        return options_response(request)
    await check_path_and_query(request)
    return None


def create_app(settings: Settings) -> Litestar:
    app = Litestar(
        plugins=[ClarionPlugin(settings), problem_details_plugin()],
        openapi_config=OpenAPIConfig(
            title="Clarion",
            version="0.1.0",
            path="/schema",
            render_plugins=[swagger_ui()],
            components=OPENAPI_COMPONENTS,
        ),
        request_max_body_size=settings.server.max_body_bytes,
        logging_config=None,  # `clarion.logs.configure_logging` owns the format (text or JSON)
    )
    complete_openapi(app)  # request bodies, problems, `Location` (what Litestar cannot see)
    return app
