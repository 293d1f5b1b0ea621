"""`…/e/{evt}/n/` notifications and `…/templates/{channel}/` templates (SPEC §3.3, grant `admin`)."""

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from clarion.auth.grants import Grant
from clarion.catalog import notifications as services
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import Decoded, decoded
from clarion.http.dependencies import RuntimeDependency
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import EventAt
from clarion.http.responses import LOCATION_HEADER, created, created_below, creates
from clarion.notifications.schemas import (
    NotificationDetailOut,
    NotificationIn,
    NotificationOut,
    NotificationPatch,
    TemplateIn,
    TemplateOut,
)

ADMIN = [requires(Grant.ADMIN)]


def _template_put(after: str) -> dict[str, Any]:
    """A template PUT answers 200 when it replaced one, 201 (with `Location`, its own URL) when it created it."""
    return {
        "status_code": 200,
        "dependencies": decoded(TemplateIn, after=after, empty_is_default=True),
        "response_headers": LOCATION_HEADER,
        "responses": {201: ResponseSpec(TemplateOut, description="Created: there was no template for this channel")},
    }


class NotificationController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}/e/{evt:str}"
    tags = ["management"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/n/", operation_id="listNotifications", guards=ADMIN, response_headers=LINK_HEADER)
    async def list_notifications(
        self, request: Request[Any, Any, Any], event: EventAt, page: RequestedPage
    ) -> Response[list[NotificationOut]]:
        """The event's notifications, by id."""
        return list_response(await services.list_notifications(event, page), request)

    @post(
        "/n/",
        operation_id="createNotification",
        guards=ADMIN,
        **creates(NotificationIn, after="event", empty_is_default=True),
    )
    async def create_notification(
        self,
        request: Request[Any, Any, Any],
        event: EventAt,
        payload: Decoded[NotificationIn],
        runtime: RuntimeDependency,
    ) -> Response[NotificationOut]:
        """Create a notification of the event."""
        notification = await services.create_notification(runtime.channels, principal_of(request), event, payload)
        return created_below(notification, request, notification.id)

    @get("/n/{pk:int}/", operation_id="readNotification", guards=ADMIN)
    async def read_notification(self, event: EventAt, pk: FromPath[int]) -> NotificationDetailOut:
        """One notification with its templates."""
        return await services.read_notification(event, pk)

    @patch(
        "/n/{pk:int}/",
        operation_id="updateNotification",
        guards=ADMIN,
        dependencies=decoded(NotificationPatch, after="event_notification", empty_is_default=True),
    )
    async def update_notification(
        self,
        request: Request[Any, Any, Any],
        event: EventAt,
        pk: FromPath[int],
        payload: Decoded[NotificationPatch],
        runtime: RuntimeDependency,
    ) -> NotificationOut:
        """Change the fields given."""
        return await services.update_notification(runtime.channels, principal_of(request), event, pk, payload)

    @delete("/n/{pk:int}/", operation_id="deleteNotification", guards=ADMIN)
    async def delete_notification(self, event: EventAt, pk: FromPath[int]) -> None:
        """Delete a notification no delivery refers to (else 409), with its subscriptions and templates."""
        await services.delete_notification(event, pk)

    @put(
        "/n/{pk:int}/templates/{channel:str}/",
        operation_id="putNotificationTemplate",
        guards=ADMIN,
        **_template_put("event_notification"),
    )
    async def put_notification_template(
        self,
        request: Request[Any, Any, Any],
        event: EventAt,
        pk: FromPath[int],
        channel: FromPath[str],
        payload: Decoded[TemplateIn],
        runtime: RuntimeDependency,
    ) -> Response[TemplateOut]:
        """Create (201) or replace (200) the notification's template for a channel."""
        result = await services.put_template(runtime.channels, runtime.renderer, event, pk, channel, payload)
        return _put_response(request, result)

    @delete("/n/{pk:int}/templates/{channel:str}/", operation_id="deleteNotificationTemplate", guards=ADMIN)
    async def delete_notification_template(self, event: EventAt, pk: FromPath[int], channel: FromPath[str]) -> None:
        """Delete the notification's template for a channel (the event's one applies again)."""
        await services.delete_template(event, pk, channel)

    @put("/templates/{channel:str}/", operation_id="putEventTemplate", guards=ADMIN, **_template_put("event"))
    async def put_event_template(
        self,
        request: Request[Any, Any, Any],
        event: EventAt,
        channel: FromPath[str],
        payload: Decoded[TemplateIn],
        runtime: RuntimeDependency,
    ) -> Response[TemplateOut]:
        """Create (201) or replace (200) the event's fallback template for a channel."""
        result = await services.put_template(runtime.channels, runtime.renderer, event, None, channel, payload)
        return _put_response(request, result)

    @delete("/templates/{channel:str}/", operation_id="deleteEventTemplate", guards=ADMIN)
    async def delete_event_template(self, event: EventAt, channel: FromPath[str]) -> None:
        """Delete the event's fallback template for a channel."""
        await services.delete_template(event, None, channel)


def _put_response(request: Request[Any, Any, Any], result: tuple[TemplateOut, bool]) -> Response[TemplateOut]:
    template, was_created = result
    if was_created:
        return created(template, f"{request.url.path.rstrip('/')}/")
    return Response(template)
