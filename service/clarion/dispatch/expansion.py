"""Expanding an occurrence into deliveries (SPEC §5.1): resolve, render, store in one write unit.

`plan_occurrence` decides (recipients, templates, rendered messages) without
writing anything, which is also what the preview endpoint shows.
`store_expansions` writes the plans of a batch of claimed occurrences in ONE
write unit: per occurrence the delivery rows (insert-if-absent on the unique
(occurrence, assignment, notification) index) and its new status, guarded by
the claim, so a worker that lost its lease writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from clarion.channels.runtime import ChannelSet
from clarion.db.engine import write_transaction
from clarion.dispatch.claims import (
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    SKIPPED,
    ClaimedDelivery,
    OccurrenceRecord,
)
from clarion.dispatch.resolution import (
    EventScope,
    Recipient,
    load_candidates,
    load_event_scope,
    load_notifications,
    resolve_recipients,
)
from clarion.rendering import (
    PARTS,
    RenderedMessage,
    RenderError,
    RenderJob,
    TemplateParts,
    TemplateRenderer,
    template_context,
)
from clarion.notifications.tables import Template
from clarion.events.schemas import decode_options
from clarion.ids import new_id
from clarion.occurrences.tables import Delivery, Occurrence

logger = logging.getLogger(__name__)

NO_TEMPLATE = "no_template"
RENDER_ERROR = "render_error"
CHANNEL_UNKNOWN = "channel_unknown"
_INSERT_CHUNK = 500


class ExpansionError(Exception):
    """The occurrence cannot be expanded, now or ever: it is marked `failed` with this error."""


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One message for one recipient: `pending` (to send) or already final (`skipped` / `failed`)."""

    recipient: Recipient
    notification_name: str
    status: str
    reason: str | None = None
    last_error: str | None = None
    message: RenderedMessage = field(default_factory=RenderedMessage)


@dataclass(frozen=True, slots=True)
class Plan:
    occurrence: OccurrenceRecord
    scope: EventScope
    deliveries: list[PlannedDelivery]


async def load_templates(event_id: int) -> dict[tuple[int | None, str], TemplateParts]:
    """(notification id or None for the event level, channel) → template."""
    rows = await Template.select(
        Template.notification, Template.channel, Template.subject, Template.text, Template.html
    ).where(Template.event == event_id)
    return {
        (row["notification"], row["channel"]): TemplateParts(row["subject"], row["text"], row["html"])
        for row in rows
    }


def occurrence_names(occurrence: OccurrenceRecord) -> dict[str, Any]:
    return {
        "id": occurrence.id,
        "correlation_id": occurrence.correlation_id,
        "timestamp": occurrence.created.isoformat(),
    }


async def plan_occurrence(
    occurrence: OccurrenceRecord, channels: ChannelSet, renderer: TemplateRenderer
) -> Plan:
    """Who gets what for `occurrence`; raises ExpansionError if it cannot be expanded."""
    try:
        options = decode_options(occurrence.options)
    except msgspec.ValidationError as exc:
        raise ExpansionError(f"options: {exc}") from exc
    if not isinstance(occurrence.context, Mapping):
        raise ExpansionError("context: expected an object")
    scope = await load_event_scope(occurrence.event_id)
    if scope is None:
        raise ExpansionError(f"event {occurrence.event_id} no longer exists")
    notifications = await load_notifications(scope.event_id)
    candidates = await load_candidates(notifications, scope.application_id)
    recipients = resolve_recipients(notifications, candidates, options, occurrence.context)
    if not recipients:
        return Plan(occurrence, scope, [])
    names = {notification.id: notification.name for notification in notifications}
    templates = await load_templates(scope.event_id)
    context = template_context(
        occurrence.context, {**scope.template_names(), "occurrence": occurrence_names(occurrence)}
    )

    planned: list[PlannedDelivery | None] = []
    jobs: list[RenderJob] = []
    to_render: list[int] = []
    for recipient in recipients:
        name = names[recipient.notification]
        channel = channels.channel(recipient.channel)
        if channel is None:
            planned.append(PlannedDelivery(recipient, name, SKIPPED, CHANNEL_UNKNOWN,
                                           f"channel {recipient.channel!r} is not configured"))
            continue
        template = templates.get((recipient.notification, recipient.channel)) or templates.get(
            (None, recipient.channel)
        )
        if template is None:
            if type(channel).requires_template:
                planned.append(PlannedDelivery(recipient, name, SKIPPED, NO_TEMPLATE,
                                               f"no template for channel {recipient.channel!r}"))
            else:
                planned.append(PlannedDelivery(recipient, name, PENDING))
            continue
        recipient_names = {**recipient.user.as_recipient(), "address": recipient.address, "channel": recipient.channel}
        parts = frozenset(PARTS) & type(channel).capabilities
        to_render.append(len(planned))
        planned.append(None)
        jobs.append(RenderJob(template, recipient_names, parts))

    rendered = await renderer.render_many(jobs, context=context, tenant=scope.organization.slug)
    for index, result in zip(to_render, rendered, strict=True):
        recipient = recipients[index]
        name = names[recipient.notification]
        if isinstance(result, RenderError):
            planned[index] = PlannedDelivery(recipient, name, FAILED, RENDER_ERROR, str(result))
        else:
            planned[index] = PlannedDelivery(recipient, name, PENDING, message=result)
    return Plan(occurrence, scope, [item for item in planned if item is not None])


@dataclass(slots=True)
class StoredExpansion:
    """What `store_expansions` wrote for one occurrence."""

    plan: Plan
    status: str
    claimed: list[ClaimedDelivery]
    """The deliveries inserted already claimed by this worker: send them now."""


class _LostClaim(Exception):
    pass


async def store_expansions(
    plans: Sequence[Plan],
    *,
    worker_id: str,
    lease_s: float,
    now: datetime,
    capacity: Callable[[str], int],
) -> list[StoredExpansion]:
    """Write the plans in one write unit; each occurrence in its own savepoint.

    Pending deliveries are inserted claimed by this worker while
    `capacity(channel)` says it can start them now (the callable is asked once
    per delivery and must count what it hands out); the rest are left for any
    worker to claim. An occurrence whose claim was lost meanwhile is skipped.
    """
    stored: list[StoredExpansion] = []
    async with write_transaction():
        for plan in plans:
            try:
                async with write_transaction():
                    stored.append(await _store_one(plan, worker_id, lease_s, now, capacity))
            except _LostClaim:
                logger.warning("occurrence %s: claim lost before expansion was stored; another worker has it",
                               plan.occurrence.id)
    return stored


async def _store_one(
    plan: Plan, worker_id: str, lease_s: float, now: datetime, capacity: Callable[[str], int]
) -> StoredExpansion:
    occurrence = plan.occurrence
    pending = sum(1 for delivery in plan.deliveries if delivery.status == PENDING)
    status = PROCESSING if pending else COMPLETED
    updated = await Occurrence.raw(
        "UPDATE occurrence SET status = {}, recipients = {}, error = NULL, claimed_by = NULL,"
        " lease_until = NULL, updated = {}"
        " WHERE id = {} AND status = {} AND claimed_by = {} RETURNING id",
        status,
        len(plan.deliveries),
        now,
        occurrence.id,
        PENDING,
        worker_id,
    )
    if not updated:
        raise _LostClaim
    rows: list[Delivery] = []
    claimed: dict[str, ClaimedDelivery] = {}
    lease_until = now + timedelta(seconds=lease_s)
    for planned in plan.deliveries:
        recipient = planned.recipient
        delivery_id = new_id()
        take = planned.status == PENDING and capacity(recipient.channel) > 0
        message = planned.message
        rows.append(
            Delivery(
                id=delivery_id,
                occurrence=occurrence.id,
                assignment=recipient.assignment,
                notification=recipient.notification,
                channel=recipient.channel,
                address=recipient.address,
                status=planned.status,
                reason=planned.reason,
                attempts=1 if take else 0,
                next_attempt_at=now if planned.status == PENDING else None,
                last_error=planned.last_error,
                subject=message.subject,
                text=message.text,
                html=message.html,
                claimed_by=worker_id if take else None,
                lease_until=lease_until if take else None,
                created=now,
                updated=now,
            )
        )
        if take:
            claimed[delivery_id] = ClaimedDelivery(
                id=delivery_id,
                occurrence_id=occurrence.id,
                channel=recipient.channel,
                address=recipient.address,
                subject=message.subject,
                text=message.text,
                html=message.html,
                attempt=1,
                secret=recipient.secret,
                event=plan.scope.event.slug,
                context=occurrence.context,
                created=occurrence.created,
                correlation_id=occurrence.correlation_id,
                recipient=recipient.user.as_recipient(),
            )
    inserted: set[str] = set()
    for start in range(0, len(rows), _INSERT_CHUNK):
        result = await Delivery.insert(*rows[start : start + _INSERT_CHUNK]).on_conflict(
            target=(Delivery.occurrence, Delivery.assignment, Delivery.notification),
            action="DO NOTHING",
        ).returning(Delivery.id)
        inserted.update(row["id"] for row in result)
    if len(inserted) < len(rows):
        logger.info("occurrence %s: %d deliveries already existed", occurrence.id, len(rows) - len(inserted))
    return StoredExpansion(plan, status, [claimed[i] for i in claimed if i in inserted])


async def fail_occurrence(occurrence_id: str, error: str, *, worker_id: str, now: datetime) -> None:
    async with write_transaction():
        await Occurrence.raw(
            "UPDATE occurrence SET status = {}, error = {}, claimed_by = NULL, lease_until = NULL, updated = {}"
            " WHERE id = {} AND status = {} AND claimed_by = {} RETURNING id",
            FAILED,
            error[:2000],
            now,
            occurrence_id,
            PENDING,
            worker_id,
        )
