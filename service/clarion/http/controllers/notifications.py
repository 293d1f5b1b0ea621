"""`…/e/{evt}/n/` notifications and `…/templates/{channel}/` templates (SPEC §3.3, grant `admin`)."""

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath

from clarion.auth.grants import Grant
from clarion.catalog import notifications as services
from clarion.events.services import EventPath
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import read_body
from clarion.http.dependencies import RuntimeDependency
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.notifications.schemas import NotificationDetailOut, NotificationOut, TemplateOut

ADMIN = [requires(Grant.ADMIN)]


class NotificationController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}/e/{evt:str}"
    tags = ["management"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/n/", operation_id="listNotifications", guards=ADMIN, response_headers=LINK_HEADER)
    async def list_notifications(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        page: RequestedPage,
    ) -> Response[list[NotificationOut]]:
        """The event's notifications, by id."""
        return list_response(await services.list_notifications(EventPath(org, prj, app, evt), page), request)

    @post("/n/", operation_id="createNotification", guards=ADMIN, status_code=201)
    async def create_notification(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        runtime: RuntimeDependency,
    ) -> NotificationOut:
        """Create a notification of the event."""
        body = await read_body(request)
        return await services.create_notification(
            runtime.channels, principal_of(request), EventPath(org, prj, app, evt), body
        )

    @get("/n/{pk:int}/", operation_id="readNotification", guards=ADMIN)
    async def read_notification(
        self, org: FromPath[str], prj: FromPath[str], app: FromPath[str], evt: FromPath[str], pk: FromPath[int]
    ) -> NotificationDetailOut:
        """One notification with its templates."""
        return await services.read_notification(EventPath(org, prj, app, evt), pk)

    @patch("/n/{pk:int}/", operation_id="updateNotification", guards=ADMIN)
    async def update_notification(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        pk: FromPath[int],
        runtime: RuntimeDependency,
    ) -> NotificationOut:
        """Change the fields given."""
        body = await read_body(request)
        return await services.update_notification(
            runtime.channels, principal_of(request), EventPath(org, prj, app, evt), pk, body
        )

    @delete("/n/{pk:int}/", operation_id="deleteNotification", guards=ADMIN)
    async def delete_notification(
        self, org: FromPath[str], prj: FromPath[str], app: FromPath[str], evt: FromPath[str], pk: FromPath[int]
    ) -> None:
        """Delete a notification no delivery refers to (else 409), with its subscriptions and templates."""
        await services.delete_notification(EventPath(org, prj, app, evt), pk)

    @put("/n/{pk:int}/templates/{channel:str}/", operation_id="putNotificationTemplate", guards=ADMIN)
    async def put_notification_template(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        pk: FromPath[int],
        channel: FromPath[str],
        runtime: RuntimeDependency,
    ) -> Response[TemplateOut]:
        """Create (201) or replace (200) the notification's template for a channel."""
        body = await read_body(request)
        return _put_response(await services.put_template(runtime.channels, runtime.renderer, EventPath(org, prj, app, evt), pk, channel, body))

    @delete("/n/{pk:int}/templates/{channel:str}/", operation_id="deleteNotificationTemplate", guards=ADMIN)
    async def delete_notification_template(
        self,
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        pk: FromPath[int],
        channel: FromPath[str],
    ) -> None:
        """Delete the notification's template for a channel (the event's one applies again)."""
        await services.delete_template(EventPath(org, prj, app, evt), pk, channel)

    @put("/templates/{channel:str}/", operation_id="putEventTemplate", guards=ADMIN)
    async def put_event_template(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        channel: FromPath[str],
        runtime: RuntimeDependency,
    ) -> Response[TemplateOut]:
        """Create (201) or replace (200) the event's fallback template for a channel."""
        body = await read_body(request)
        return _put_response(await services.put_template(runtime.channels, runtime.renderer, EventPath(org, prj, app, evt), None, channel, body))

    @delete("/templates/{channel:str}/", operation_id="deleteEventTemplate", guards=ADMIN)
    async def delete_event_template(
        self, org: FromPath[str], prj: FromPath[str], app: FromPath[str], evt: FromPath[str], channel: FromPath[str]
    ) -> None:
        """Delete the event's fallback template for a channel."""
        await services.delete_template(EventPath(org, prj, app, evt), None, channel)


def _put_response(result: tuple[TemplateOut, bool]) -> Response[TemplateOut]:
    template, created = result
    return Response(template, status_code=201 if created else 200)
