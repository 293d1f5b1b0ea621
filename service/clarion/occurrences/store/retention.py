"""Deleting what `[retention]` no longer keeps: old finished occurrences and expired idempotency keys."""

from datetime import datetime, timedelta

from clarion.db.engine import write_transaction
from clarion.occurrences.statuses import FINISHED_OCCURRENCE
from clarion.occurrences.tables import Delivery, IdempotencyRecord, Occurrence
from clarion.settings import RetentionSettings

FINISHED = FINISHED_OCCURRENCE
BATCH = 500
"""Occurrences deleted per write unit, so a large backlog never holds the writer for long."""


async def delete_expired(retention: RetentionSettings, now: datetime) -> int:
    """Delete finished occurrences older than `occurrences_days` (with their deliveries) and
    idempotency records past their expiry. Pending and processing occurrences are kept,
    however old. Returns the number of occurrences deleted."""
    cutoff = now - timedelta(days=retention.occurrences_days)
    deleted = 0
    while True:
        async with write_transaction():
            rows = await Occurrence.select(Occurrence.id).where(
                (Occurrence.created < cutoff) & Occurrence.status.is_in(list(FINISHED))
            ).limit(BATCH)
            ids = [row["id"] for row in rows]
            if ids:
                await Delivery.delete().where(Delivery.occurrence.is_in(ids))
                await IdempotencyRecord.delete().where(IdempotencyRecord.expires_at < now)
                await Occurrence.delete().where(Occurrence.id.is_in(ids))
            else:
                await IdempotencyRecord.delete().where(IdempotencyRecord.expires_at < now)
        deleted += len(ids)
        if len(ids) < BATCH:
            return deleted
