"""Storing planned occurrences (SPEC §5.1): the delivery rows and the occurrence's status, in one write unit.

`store_expansions` writes the plans of a batch of claimed occurrences in ONE
write unit: per occurrence the delivery rows (insert-if-absent on the unique
(occurrence, assignment, notification) index) and its new status, guarded by
the claim, so a worker that lost its lease writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from clarion.db.engine import fetch, write_transaction
from clarion.db.sql import placeholders
from clarion.ids import new_id
from clarion.occurrences.resolution import EventScope, Recipient
from clarion.occurrences.statuses import DeliveryStatus, OccurrenceStatus
from clarion.occurrences.store.claims import ClaimedDelivery, OccurrenceRecord
from clarion.rendering import RenderedMessage, TemplateParts

logger = logging.getLogger(__name__)

_INSERT_CHUNK = 500

# Hand-written, not Piccolo objects: building a Table instance per delivery cost more than the insert.
_INSERT_DELIVERIES = (
    "INSERT INTO delivery (id, occurrence, assignment, notification, channel, address, status, reason, attempts,"
    " next_attempt_at, last_error, subject, text, html, claimed_by, lease_until, created, updated) VALUES"
)
_DELIVERY_VALUES = "(" + placeholders(18) + ")"
_ON_CONFLICT = "ON CONFLICT (occurrence, assignment, notification) DO NOTHING RETURNING id"


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
    rows = await fetch("SELECT notification, channel, subject, text, html FROM template WHERE event = {}", event_id)
    return {
        (row["notification"], row["channel"]): TemplateParts(row["subject"], row["text"], row["html"])
        for row in rows
    }


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
    pending = sum(1 for delivery in plan.deliveries if delivery.status == DeliveryStatus.PENDING)
    status = OccurrenceStatus.PROCESSING if pending else OccurrenceStatus.COMPLETED
    updated = await fetch(
        "UPDATE occurrence SET status = {}, recipients = {}, error = NULL, claimed_by = NULL,"
        " lease_until = NULL, updated = {}"
        " WHERE id = {} AND status = {} AND claimed_by = {} RETURNING id",
        status,
        len(plan.deliveries),
        now,
        occurrence.id,
        OccurrenceStatus.PENDING,
        worker_id,
    )
    if not updated:
        raise _LostClaim
    rows: list[tuple[object, ...]] = []
    claimed: dict[str, ClaimedDelivery] = {}
    lease_until = now + timedelta(seconds=lease_s)
    for planned in plan.deliveries:
        recipient = planned.recipient
        delivery_id = new_id()
        take = planned.status == DeliveryStatus.PENDING and capacity(recipient.channel) > 0
        message = planned.message
        rows.append((
            delivery_id,
            occurrence.id,
            recipient.assignment,
            recipient.notification,
            recipient.channel,
            recipient.address,
            planned.status,
            planned.reason,
            1 if take else 0,
            now if planned.status == DeliveryStatus.PENDING else None,
            planned.last_error,
            message.subject,
            message.text,
            message.html,
            worker_id if take else None,
            lease_until if take else None,
            now,
            now,
        ))
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
        chunk = rows[start : start + _INSERT_CHUNK]
        values = ", ".join([_DELIVERY_VALUES] * len(chunk))
        result = await fetch(
            f"{_INSERT_DELIVERIES} {values} {_ON_CONFLICT}", *(value for row in chunk for value in row)
        )
        inserted.update(row["id"] for row in result)
    if len(inserted) < len(rows):
        logger.info("occurrence %s: %d deliveries already existed", occurrence.id, len(rows) - len(inserted))
    return StoredExpansion(plan, status, [claimed[i] for i in claimed if i in inserted])


async def fail_occurrence(occurrence_id: str, error: str, *, worker_id: str, now: datetime) -> None:
    async with write_transaction():
        await fetch(
            "UPDATE occurrence SET status = {}, error = {}, claimed_by = NULL, lease_until = NULL, updated = {}"
            " WHERE id = {} AND status = {} AND claimed_by = {} RETURNING id",
            OccurrenceStatus.FAILED,
            error[:2000],
            now,
            occurrence_id,
            OccurrenceStatus.PENDING,
            worker_id,
        )
