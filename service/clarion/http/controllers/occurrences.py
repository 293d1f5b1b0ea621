"""Observability (SPEC §3.3): an occurrence with its deliveries, an event's occurrences, trigger preview."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from clarion.auth.grants import Grant
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import read_body
from clarion.http.dependencies import Events, RuntimeDependency, Tenants
from clarion.http.guards import requires
from clarion.http.pagination import PAGINATION, RequestedPage, list_response
from clarion.occurrences import services
from clarion.occurrences.schemas import OccurrenceDetail, OccurrenceOut, PreviewOut
from clarion.occurrences.trigger import decode_trigger_request


class OccurrenceController(Controller):
    path = "/api/o/{org:str}/p/{prj:str}/a/{app:str}"
    tags = ["occurrences"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/occurrences/{occurrence_id:str}/", operation_id="readOccurrence", guards=[requires(Grant.OCCURRENCE_READ)])
    async def read_occurrence(
        self,
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        occurrence_id: FromPath[str],
        tenants: Tenants,
        runtime: RuntimeDependency,
    ) -> OccurrenceDetail:
        """One occurrence of the application with every delivery it expanded into (addresses' secrets redacted)."""
        kinds = runtime.channels.address_kinds
        return await services.read_occurrence(tenants, kinds, org, prj, app, occurrence_id)

    @get("/e/{evt:str}/occurrences/", operation_id="listOccurrences", guards=[requires(Grant.OCCURRENCE_READ)])
    async def list_occurrences(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        page: RequestedPage,
        events: Events,
        status: Annotated[
            str | None, QueryParameter(name="status", description="pending, processing, completed or failed")
        ] = None,
    ) -> Response[list[OccurrenceOut]]:
        """The event's occurrences, newest first."""
        occurrences = await services.list_occurrences(events, org, prj, app, evt, page, status)
        return list_response(occurrences, request)

    @post(
        "/e/{evt:str}/preview/",
        operation_id="previewTrigger",
        guards=[requires(Grant.EVENT_TRIGGER, Grant.OCCURRENCE_READ)],
        status_code=200,
    )
    async def preview(
        self,
        request: Request[Any, Any, Any],
        org: FromPath[str],
        prj: FromPath[str],
        app: FromPath[str],
        evt: FromPath[str],
        runtime: RuntimeDependency,
        events: Events,
        cid: Annotated[str | None, QueryParameter(name="cid", description="correlation id, ≤ 255 chars")] = None,
    ) -> PreviewOut:
        """What triggering the event with this body would send (the same body as trigger); stores and sends nothing."""
        event = await events.event(org, prj, app, evt)
        body = await read_body(request)
        return await services.preview_trigger(
            event, decode_trigger_request(body), cid, channels=runtime.channels, renderer=runtime.renderer
        )
