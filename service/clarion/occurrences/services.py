"""Reading occurrences and their deliveries; previewing a trigger (SPEC §3.3).

`preview_trigger` runs the dispatcher's own resolution and rendering
(`clarion.occurrences.planning.plan_occurrence`) on the body of a would-be
trigger and returns what it decided, without writing anything or sending.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from clarion.channels.addresses import AddressKinds
from clarion.channels.runtime import ChannelSet
from clarion.db.sql import decode_json
from clarion.errors import BadRequest, NotFound
from clarion.events.directory import EventDirectory, EventRef
from clarion.ids import new_id
from clarion.occurrences.planning import ExpansionError, plan_occurrence
from clarion.occurrences.schemas import (
    OCCURRENCE_STATUSES,
    DeliveryOut,
    OccurrenceDetail,
    OccurrenceOut,
    PreviewMessage,
    PreviewOut,
    TriggerRequest,
)
from clarion.occurrences.store.claims import OccurrenceRecord
from clarion.occurrences.store.expansion import Plan
from clarion.occurrences.tables import Delivery, Occurrence
from clarion.organizations.services import TenantDirectory
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.rendering import TemplateRenderer

MAX_CORRELATION_ID = 255
_OCCURRENCE_COLUMNS = (
    Occurrence.id,
    Occurrence.status,
    Occurrence.recipients,
    Occurrence.correlation_id,
    Occurrence.error,
    Occurrence.created,
    Occurrence.updated,
    Occurrence.context,
    Occurrence.options,
)


def _occurrence_fields(row: Mapping[str, Any], event: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": event,
        "status": row["status"],
        "recipients": row["recipients"],
        "correlation_id": row["correlation_id"],
        "error": row["error"],
        "created": row["created"],
        "updated": row["updated"],
        "context": decode_json(row["context"], {}),
        "options": decode_json(row["options"], {}),
    }


async def read_occurrence(
    tenants: TenantDirectory, kinds: AddressKinds, org: str, prj: str, app: str, occurrence_id: str
) -> OccurrenceDetail:
    """An occurrence of the application with its deliveries; 404 if it is not the application's."""
    application = await tenants.application(org, prj, app)
    row = await (
        Occurrence.select(
            *_OCCURRENCE_COLUMNS,
            Occurrence.event.slug.as_alias("event_slug"),
            Occurrence.event.application.as_alias("application_id"),
        )
        .where(Occurrence.id == occurrence_id)
        .first()
    )
    if row is None or row["application_id"] != application.id:
        raise NotFound(f"unknown occurrence {occurrence_id!r}")
    deliveries = await (
        Delivery.select(
            *Delivery.all_columns(),
            Delivery.notification.name.as_alias("notification_name"),
            Delivery.assignment.address.user.username.as_alias("username"),  # type: ignore[union-attr]
            Delivery.assignment.address.kind.as_alias("address_kind"),  # type: ignore[union-attr]
        )
        .where(Delivery.occurrence == occurrence_id)
        .order_by(Delivery.id)
    )
    return OccurrenceDetail(
        **_occurrence_fields(row, row["event_slug"]),
        deliveries=[
            DeliveryOut(
                id=delivery["id"],
                channel=delivery["channel"],
                address=kinds.shown(delivery["address"], delivery["address_kind"]),
                notification=delivery["notification"],
                notification_name=delivery["notification_name"],
                username=delivery["username"],
                status=delivery["status"],
                attempts=delivery["attempts"],
                reason=delivery["reason"],
                last_error=delivery["last_error"],
                next_attempt_at=delivery["next_attempt_at"],
                delivered_at=delivery["delivered_at"],
                provider_id=delivery["provider_id"],
                created=delivery["created"],
                updated=delivery["updated"],
            )
            for delivery in deliveries
        ],
    )


async def list_occurrences(
    events: EventDirectory, org: str, prj: str, app: str, evt: str, page: PageRequest, status: str | None
) -> Page[OccurrenceOut]:
    """The event's occurrences, newest first, optionally only those with `status`."""
    if status is not None and status not in OCCURRENCE_STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(OCCURRENCE_STATUSES)}")
    event = await events.event(org, prj, app, evt)
    query = Occurrence.select(*_OCCURRENCE_COLUMNS).where(Occurrence.event == event.id)
    if status is not None:
        query = query.where(Occurrence.status == status)
    rows = await page_of_query(query, page, key=Occurrence.id, descending=True)
    return rows.map(lambda row: OccurrenceOut(**_occurrence_fields(row, event.slug)))


async def preview_trigger(
    event: EventRef, request: TriggerRequest, cid: str | None, *, channels: ChannelSet, renderer: TemplateRenderer
) -> PreviewOut:
    """Who would receive what if `request` triggered `event` now; nothing is stored or sent."""
    if event.refusal is not None:
        raise BadRequest(f"{event.refusal}: it cannot be triggered")
    if cid is not None and len(cid) > MAX_CORRELATION_ID:
        raise BadRequest(f"cid: at most {MAX_CORRELATION_ID} characters")
    for index, channel in enumerate(request.options.channels or ()):
        if channels.state(channel) == "unknown":
            raise BadRequest(f"options.channels[{index}]: channel {channel!r} is not configured")
    record = OccurrenceRecord(
        id=new_id(),
        event_id=event.id,
        context=request.context,
        options=msgspec.to_builtins(request.options),
        correlation_id=cid,
        created=datetime.now(UTC),
    )
    try:
        plan = await plan_occurrence(record, channels, renderer)
    except ExpansionError as exc:
        raise BadRequest(str(exc)) from None
    return _preview_of(plan, event, channels)


def _preview_of(plan: Plan, event: EventRef, channels: ChannelSet) -> PreviewOut:
    return PreviewOut(
        event=event.slug,
        paused=event.paused,
        recipients=len(plan.deliveries),
        context=plan.occurrence.context,
        messages=[
            PreviewMessage(
                notification=planned.recipient.notification,
                notification_name=planned.notification_name,
                channel=planned.recipient.channel,
                address=channels.address_kinds.shown(planned.recipient.address),
                username=planned.recipient.user.username,
                status=planned.status,
                reason=planned.reason,
                error=planned.last_error,
                subject=planned.message.subject,
                text=planned.message.text,
                html=planned.message.html,
            )
            for planned in plan.deliveries
        ],
    )
