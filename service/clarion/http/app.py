"""The one place the Litestar app is built."""

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator

from asyncpg.exceptions import IntegrityConstraintViolationError
from litestar import Litestar, Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins import InitPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from clarion.db.failures import storage_problem
from clarion.errors import ClarionError
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
from clarion.http.dependencies import provide_events, provide_runtime, provide_tenants
from clarion.ids import new_id
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

logger = logging.getLogger(__name__)


class ClarionPlugin(InitPlugin):
    """Cross-cutting wiring: dependencies, error mapping, lifespan resources, routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self._add_dependencies(app_config)
        self._add_exception_handlers(app_config)
        app_config.lifespan.append(self._lifespan)
        app_config.lifespan.append(api_keys_lifespan)  # after the engine starts, so its last flush precedes close
        app_config.middleware.append(DefineMiddleware(ApiKeyAuthenticationMiddleware))
        # After the guards (401/403), before the handler: NULs in path and query, impossible path ids.
        # (A `before_request` on a controller or handler would replace this one: there is none.)
        app_config.before_request = check_path_and_query
        app_config.route_handlers.extend(ROUTE_HANDLERS)
        if self.settings.admin.enabled:
            app_config.route_handlers.append(console_handler(self.settings.admin))
        return app_config

    def _add_dependencies(self, app_config: AppConfig) -> None:
        settings = self.settings
        app_config.dependencies["settings"] = Provide(lambda: settings, use_cache=True, sync_to_thread=False)
        app_config.dependencies["runtime"] = Provide(provide_runtime, sync_to_thread=False)
        app_config.dependencies["tenants"] = Provide(provide_tenants, sync_to_thread=False)
        app_config.dependencies["events"] = Provide(provide_events, sync_to_thread=False)

    def _add_exception_handlers(self, app_config: AppConfig) -> None:
        app_config.exception_handlers[ClarionError] = _clarion_error_response
        app_config.exception_handlers[ValidationException] = _validation_error_response
        # Two requests creating the same row at once: the loser's unique-index violation is a 409, not a 500.
        app_config.exception_handlers[sqlite3.IntegrityError] = _integrity_error_response
        app_config.exception_handlers[IntegrityConstraintViolationError] = _integrity_error_response
        # Everything else that is not an HTTPException: 503 if the database cannot serve, else a logged 500.
        app_config.exception_handlers[HTTP_500_INTERNAL_SERVER_ERROR] = _unexpected_error_response

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        async with open_runtime(self.settings, dispatcher=self.settings.dispatch.embedded) as runtime:
            app.state.runtime = runtime
            yield


def _clarion_error_response(_: Request, exc: ClarionError) -> Response:
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _integrity_error_response(_: Request, exc: Exception) -> Response:
    logger.info("integrity error answered 409: %s", exc)
    return Response(
        {"detail": "conflict: the request clashes with data written at the same time; read it again and retry"},
        status_code=409,
    )


def _unexpected_error_response(request: Request, exc: Exception) -> Response:
    """503 naming what is wrong when the database is full, read-only or gone; otherwise a 500 whose
    `request_id` is also in the log line that holds the traceback."""
    problem = storage_problem(exc)
    if problem:
        logger.warning(
            "%s %s answered 503: %s (%s: %s)", request.method, request.url.path, problem, type(exc).__name__, exc
        )
        return Response({"detail": problem}, status_code=503, headers={"Retry-After": "10"})
    request_id = new_id()
    logger.error(
        "unexpected error in %s %s (request_id %s)", request.method, request.url.path, request_id,
        exc_info=exc, extra={"request_id": request_id},
    )
    return Response(
        {"detail": "Internal Server Error", "request_id": request_id},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        headers={"X-Request-ID": request_id},
    )


def _validation_error_response(_: Request, exc: ValidationException) -> Response:
    return Response({"detail": validation_detail(exc)}, status_code=400)


def validation_detail(exc: HTTPException) -> str:
    """Litestar says "Validation failed for POST /x"; name the field from the error's extra instead."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            message = str(item["message"]).replace("`", "")
            return f"{key}: {message}" if key else message
    return str(exc.detail)


def create_app(settings: Settings) -> Litestar:
    return Litestar(
        plugins=[ClarionPlugin(settings)],
        openapi_config=OpenAPIConfig(
            title="Clarion",
            version="0.1.0",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=OPENAPI_COMPONENTS,
        ),
        request_max_body_size=settings.server.max_body_bytes,
        logging_config=None,  # `clarion.logs.configure_logging` owns the format (text or JSON)
    )
