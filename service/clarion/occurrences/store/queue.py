"""The queue as `/metrics` and the console's dashboard show it: pending occurrences and deliveries, and the
age of the oldest."""

from dataclasses import dataclass

from clarion.db.sql import utcnow
from clarion.metrics.registry import OLDEST_PENDING_SECONDS, QUEUE_DEPTH
from clarion.occurrences.statuses import DeliveryStatus, OccurrenceStatus
from clarion.occurrences.tables import Delivery, Occurrence


@dataclass(frozen=True, slots=True)
class QueueState:
    kind: str
    """"occurrence" or "delivery"."""
    depth: int
    oldest_age_s: float
    """0 when nothing is pending."""


async def queue_state() -> list[QueueState]:
    """How much work is pending, and how long the oldest piece has waited."""
    now = utcnow()
    states = []
    for kind, table, pending in (
        ("occurrence", Occurrence, Occurrence.status == OccurrenceStatus.PENDING),
        ("delivery", Delivery, Delivery.status == DeliveryStatus.PENDING),
    ):
        depth = await table.count().where(pending)
        oldest = await table.select(table.created).where(pending).order_by(table.created).first()
        age = (now - oldest["created"]).total_seconds() if oldest else 0.0
        states.append(QueueState(kind, depth, max(age, 0.0)))
    return states


async def measure_queue() -> None:
    """Set the queue gauges from the database (at scrape time)."""
    for state in await queue_state():
        QUEUE_DEPTH.labels(kind=state.kind).set(state.depth)
        OLDEST_PENDING_SECONDS.labels(kind=state.kind).set(state.oldest_age_s)
