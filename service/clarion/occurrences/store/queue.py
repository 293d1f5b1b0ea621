"""The queue as `/metrics` shows it: pending occurrences and deliveries, and the age of the oldest."""

from clarion.db.sql import utcnow
from clarion.metrics.registry import OLDEST_PENDING_SECONDS, QUEUE_DEPTH
from clarion.occurrences.statuses import DeliveryStatus, OccurrenceStatus
from clarion.occurrences.tables import Delivery, Occurrence


async def measure_queue() -> None:
    """Set the queue gauges from the database (at scrape time)."""
    now = utcnow()
    for kind, table, pending in (
        ("occurrence", Occurrence, Occurrence.status == OccurrenceStatus.PENDING),
        ("delivery", Delivery, Delivery.status == DeliveryStatus.PENDING),
    ):
        QUEUE_DEPTH.labels(kind=kind).set(await table.count().where(pending))
        oldest = await table.select(table.created).where(pending).order_by(table.created).first()
        age = (now - oldest["created"]).total_seconds() if oldest else 0.0
        OLDEST_PENDING_SECONDS.labels(kind=kind).set(max(age, 0.0))
