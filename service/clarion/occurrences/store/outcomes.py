"""Recording send results (SPEC §5.2): delivery rows, and occurrences that have nothing pending left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from clarion.db.engine import fetch, write_transaction
from clarion.db.sql import placeholders, utcnow
from clarion.occurrences.statuses import DeliveryStatus, OccurrenceStatus


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one send attempt changes on its delivery row."""

    delivery_id: str
    occurrence_id: str
    channel: str
    status: str
    reason: str | None = None
    last_error: str | None = None
    provider_id: str | None = None
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempt_counted: bool = True
    """False when nothing was handed over (the channel was disabled or gone, or it deferred the send)."""

    @property
    def final(self) -> bool:
        return self.status != DeliveryStatus.PENDING


async def write_outcomes(outcomes: Sequence[Outcome], *, worker_id: str, postgres: bool) -> list[str]:
    """Record `outcomes` and complete finished occurrences, in one write unit.

    A final outcome is written if the delivery is still pending (a result is a
    fact, even from a worker whose lease ran out); a retry is scheduled only by
    the worker still holding the lease. Returns the occurrences completed.
    """
    now = utcnow()
    async with write_transaction():
        for outcome in outcomes:
            if outcome.final:
                await fetch(
                    "UPDATE delivery SET status = {}, reason = {}, last_error = COALESCE({}, last_error),"
                    " provider_id = {}, delivered_at = {}, next_attempt_at = NULL, claimed_by = NULL,"
                    " lease_until = NULL, attempts = attempts - {}, updated = {}"
                    " WHERE id = {} AND status = {} RETURNING id",
                    outcome.status,
                    outcome.reason,
                    outcome.last_error,
                    outcome.provider_id,
                    outcome.delivered_at,
                    0 if outcome.attempt_counted else 1,
                    now,
                    outcome.delivery_id,
                    DeliveryStatus.PENDING,
                )
            else:
                await fetch(
                    "UPDATE delivery SET last_error = {}, next_attempt_at = {}, claimed_by = NULL,"
                    " lease_until = NULL, attempts = attempts - {}, updated = {}"
                    " WHERE id = {} AND status = {} AND claimed_by = {} RETURNING id",
                    outcome.last_error,
                    outcome.next_attempt_at,
                    0 if outcome.attempt_counted else 1,
                    now,
                    outcome.delivery_id,
                    DeliveryStatus.PENDING,
                    worker_id,
                )
        finished = sorted({outcome.occurrence_id for outcome in outcomes if outcome.final})
        if not finished:
            return []
        marks = placeholders(len(finished))
        if postgres:
            # Two workers finishing the last deliveries of one occurrence would each
            # still see the other's as pending; the row lock orders them, and the next
            # statement's fresh snapshot sees what the first one committed.
            await fetch(f"SELECT id FROM occurrence WHERE id IN ({marks}) ORDER BY id FOR UPDATE", *finished)
        rows = await fetch(
            "UPDATE occurrence SET status = {}, updated = {}"
            f" WHERE id IN ({marks}) AND status = {{}}"
            " AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.occurrence = occurrence.id AND d.status = {})"
            " RETURNING id",
            OccurrenceStatus.COMPLETED,
            now,
            *finished,
            OccurrenceStatus.PROCESSING,
            DeliveryStatus.PENDING,
        )
    return [row["id"] for row in rows]


async def complete_finished_occurrences(limit: int = 500) -> list[str]:
    """Safety net: complete `processing` occurrences that have nothing pending (normally
    `write_outcomes` already did)."""
    now = utcnow()
    async with write_transaction():
        rows = await fetch(
            "UPDATE occurrence SET status = {}, updated = {}"
            " WHERE id IN (SELECT o.id FROM occurrence o WHERE o.status = {}"
            " AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.occurrence = o.id AND d.status = {})"
            " ORDER BY o.id LIMIT {})"
            " AND status = {} RETURNING id",
            OccurrenceStatus.COMPLETED,
            now,
            OccurrenceStatus.PROCESSING,
            DeliveryStatus.PENDING,
            limit,
            OccurrenceStatus.PROCESSING,
        )
    return [row["id"] for row in rows]
