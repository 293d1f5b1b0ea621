"""The Events API of the source document: list an application's events, trigger one; plus managing
events (`EventManagementHandlers`)."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, QueryParameter

from clarion.auth.grants import Grant
from clarion.events import services
from clarion.events.schemas import EventOut
from clarion.events.services import EventPath
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import read_body
from clarion.http.controllers.management import EventManagementHandlers
from clarion.http.dependencies import RuntimeDependency, Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.occurrences.schemas import TriggerResponse
from clarion.occurrences.trigger import trigger_event

REPLAYED_HEADER = "Idempotent-Replayed"


class EventController(EventManagementHandlers, Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}/e"
    tags = ["events"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="listEvents", guards=[requires(Grant.EVENT_LIST)], response_headers=LINK_HEADER)
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        page: RequestedPage,
        tenants: Tenants,
    ) -> Response[list[EventOut]]:
        """The application's events."""
        return list_response(await services.list_events(tenants, org, prj, app, page), request)

    @post(
        "/{evt:str}/trigger/",
        operation_id="triggerEvent",
        guards=[requires(Grant.EVENT_TRIGGER)],
        status_code=201,
    )
    async def trigger(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        runtime: RuntimeDependency,
        cid: Annotated[str | None, QueryParameter(name="cid", description="correlation id, ≤ 255 chars")] = None,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="idempotency-key", description="≤ 255 chars; replays the first 201")
        ] = None,
    ) -> Response[TriggerResponse]:
        """Trigger the event: answers 201 once the occurrence is committed."""
        body = await read_body(request)
        outcome = await trigger_event(
            runtime.events,  # not a second dependency: two are resolved in a task group per request
            principal_of(request),
            EventPath(org, prj, app, evt),
            body,
            channels=runtime.channels,
            work=runtime.work,
            settings=runtime.settings,
            cid=cid,
            idempotency_key=idempotency_key,
        )
        return Response(
            outcome.body,
            status_code=outcome.status_code,
            media_type="application/json",
            headers={REPLAYED_HEADER: "true"} if outcome.replayed else None,
        )
