"""Measuring the queue at scrape time and rendering the exposition text."""

from datetime import datetime, timezone

from prometheus_client import generate_latest

from clarion.metrics.registry import OLDEST_PENDING_SECONDS, QUEUE_DEPTH, registry
from clarion.occurrences.tables import Delivery, Occurrence


async def measure_queue() -> None:
    now = datetime.now(timezone.utc)
    for kind, table in (("occurrence", Occurrence), ("delivery", Delivery)):
        pending = table.status == "pending"
        QUEUE_DEPTH.labels(kind=kind).set(await table.count().where(pending))
        oldest = await table.select(table.created).where(pending).order_by(table.created).first()
        age = (now - oldest["created"]).total_seconds() if oldest else 0.0
        OLDEST_PENDING_SECONDS.labels(kind=kind).set(max(age, 0.0))


async def exposition() -> bytes:
    await measure_queue()
    return generate_latest(registry)
