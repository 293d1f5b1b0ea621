"""The Events API of the source document: list an application's events, trigger one; read one event;
plus managing events (`EventManagementHandlers`)."""

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter, QueryParameter

from clarion.auth.grants import Grant
from clarion.events import services
from clarion.events.schemas import EventOut
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import Decoded, decoded
from clarion.http.controllers.management import EventManagementHandlers
from clarion.http.dependencies import RuntimeDependency, Tenants
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import ApplicationAt, EventAt
from clarion.http.responses import LOCATION_HEADER
from clarion.occurrences.schemas import TriggerRequest, TriggerResponse
from clarion.occurrences.trigger import decode_trigger_request, trigger_event

REPLAYED_HEADER = "Idempotent-Replayed"
REPLAYED = ResponseHeader(
    name=REPLAYED_HEADER,
    documentation_only=True,
    required=False,
    description="`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
)

CidQuery = Annotated[str | None, QueryParameter(name="cid", description="correlation id, ≤ 255 chars")]


class EventController(EventManagementHandlers, Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}/e"
    tags = ["events"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="listEvents", guards=[requires(Grant.EVENT_LIST)], response_headers=LINK_HEADER)
    async def list_events(
        self, request: Request[Any, Any, Any], application: ApplicationAt, page: RequestedPage, tenants: Tenants
    ) -> Response[list[EventOut]]:
        """The application's events."""
        at = application
        return list_response(await services.list_events(tenants, at.org, at.prj, at.app, page), request)

    @get("/{evt:str}/", operation_id="readEvent", guards=[requires(Grant.EVENT_LIST)])
    async def read_event(self, event: EventAt, tenants: Tenants) -> EventOut:
        """One event of the application, as the list shows it."""
        return await services.read_event(tenants, event)

    @post(
        "/{evt:str}/trigger/",
        operation_id="triggerEvent",
        guards=[requires(Grant.EVENT_TRIGGER)],
        status_code=201,
        dependencies=decoded(TriggerRequest, after="event", decode=decode_trigger_request, required=False),
        response_headers=[*LOCATION_HEADER, REPLAYED],
    )
    async def trigger(
        self,
        request: Request[Any, Any, Any],
        event: EventAt,
        payload: Decoded[TriggerRequest],
        runtime: RuntimeDependency,
        cid: CidQuery = None,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="idempotency-key", description="≤ 255 chars; replays the first 201")
        ] = None,
    ) -> Response[TriggerResponse]:
        """Trigger the event: answers 201 once the occurrence is committed (`Location`: the occurrence)."""
        outcome = await trigger_event(
            runtime.events,
            principal_of(request),
            event,
            payload,
            channels=runtime.channels,
            work=runtime.work,
            settings=runtime.settings,
            cid=cid,
            idempotency_key=idempotency_key,
        )
        headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
        if outcome.status_code == 201:
            occurrence = msgspec.json.decode(outcome.body, type=TriggerResponse).occurrence
            headers["Location"] = f"/api/o/{event.org}/p/{event.prj}/a/{event.app}/occurrences/{occurrence}/"
        return Response(
            outcome.body, status_code=outcome.status_code, media_type="application/json", headers=headers or None
        )
