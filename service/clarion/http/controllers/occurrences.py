"""Observability (SPEC §3.3): an occurrence with its deliveries, an event's occurrences, trigger preview."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from clarion.auth.grants import Grant
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import Decoded, decoded
from clarion.http.controllers.events import CidQuery
from clarion.http.dependencies import Events, RuntimeDependency, Tenants
from clarion.http.guards import requires
from clarion.http.pagination import PAGINATION, RequestedPage, list_response
from clarion.http.paths import ApplicationAt, EventAt
from clarion.occurrences import services
from clarion.occurrences.schemas import OccurrenceDetail, OccurrenceOut, PreviewOut, TriggerRequest
from clarion.occurrences.trigger import decode_trigger_request


class OccurrenceController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}"
    tags = ["occurrences"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/occurrences/{occurrence_id:str}/", operation_id="readOccurrence", guards=[requires(Grant.OCCURRENCE_READ)])
    async def read_occurrence(
        self, application: ApplicationAt, occurrence_id: FromPath[str], tenants: Tenants, runtime: RuntimeDependency
    ) -> OccurrenceDetail:
        """One occurrence of the application with every delivery it expanded into (addresses' secrets redacted)."""
        at, kinds = application, runtime.channels.address_kinds
        return await services.read_occurrence(tenants, kinds, at.org, at.prj, at.app, occurrence_id)

    @get("/e/{evt:str}/occurrences/", operation_id="listOccurrences", guards=[requires(Grant.OCCURRENCE_READ)])
    async def list_occurrences(
        self,
        request: Request[Any, Any, Any],
        event: EventAt,
        page: RequestedPage,
        events: Events,
        status: Annotated[
            str | None, QueryParameter(name="status", description="pending, processing, completed or failed")
        ] = None,
    ) -> Response[list[OccurrenceOut]]:
        """The event's occurrences, newest first."""
        occurrences = await services.list_occurrences(
            events, event.org, event.prj, event.app, event.evt, page, status
        )
        return list_response(occurrences, request)

    @post(
        "/e/{evt:str}/preview/",
        operation_id="previewTrigger",
        guards=[requires(Grant.EVENT_TRIGGER, Grant.OCCURRENCE_READ)],
        status_code=200,
        dependencies=decoded(TriggerRequest, after="event", decode=decode_trigger_request, required=False),
    )
    async def preview(
        self,
        event: EventAt,
        payload: Decoded[TriggerRequest],
        runtime: RuntimeDependency,
        events: Events,
        cid: CidQuery = None,
    ) -> PreviewOut:
        """What triggering the event with this body would send (the same body as trigger); stores and sends nothing."""
        found = await events.event(event.org, event.prj, event.app, event.evt)
        return await services.preview_trigger(found, payload, cid, channels=runtime.channels, renderer=runtime.renderer)
