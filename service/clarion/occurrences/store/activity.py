"""The last 24 hours of deliveries, as the console's dashboard draws them.

Counts per status and per channel are exact (GROUP BY). The hourly series and
the send-latency percentiles are computed from the most recent `SAMPLE_LIMIT`
deliveries of the window, so the dashboard stays one bounded read however busy
the day was; `Activity.sampled` says how many were read.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from piccolo.query.functions.aggregate import Count

from clarion.db.sql import as_datetime, utcnow
from clarion.occurrences.statuses import DeliveryStatus
from clarion.occurrences.tables import Delivery

WINDOW = timedelta(hours=24)
SAMPLE_LIMIT = 50_000
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Activity:
    since: datetime
    by_status: dict[str, int]
    by_channel: dict[str, int]
    hourly: list[tuple[datetime, dict[str, int]]]
    """24 hours, oldest first: the hour's start and its deliveries per status (from the sample)."""
    latency_s: dict[int, float] = field(default_factory=dict)
    """Percentile → seconds from a delivery's creation to its delivery (delivered ones in the sample)."""
    sampled: int = 0


async def delivery_activity(now: datetime | None = None) -> Activity:
    now = now or utcnow()
    since = now - WINDOW
    recent = Delivery.created >= since
    by_status = await Delivery.select(Delivery.status, Count(Delivery.id, alias="count")).where(recent).group_by(
        Delivery.status
    )
    by_channel = await Delivery.select(Delivery.channel, Count(Delivery.id, alias="count")).where(recent).group_by(
        Delivery.channel
    )
    sample = (
        await Delivery.select(Delivery.created, Delivery.status, Delivery.delivered_at)
        .where(recent)
        .order_by(Delivery.created, ascending=False)
        .limit(SAMPLE_LIMIT)
    )
    first_hour = (now - WINDOW).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [first_hour + timedelta(hours=index) for index in range(24)]
    counts: list[Counter[str]] = [Counter() for _ in hours]
    latencies: list[float] = []
    for row in sample:
        created = as_datetime(row["created"])
        index = int((created - first_hour).total_seconds() // 3600)
        counts[min(max(index, 0), 23)][row["status"]] += 1
        if row["status"] == DeliveryStatus.DELIVERED and row["delivered_at"] is not None:
            latencies.append(max((as_datetime(row["delivered_at"]) - created).total_seconds(), 0.0))
    return Activity(
        since=since,
        by_status={row["status"]: row["count"] for row in by_status},
        by_channel={row["channel"]: row["count"] for row in by_channel},
        hourly=[(hour, dict(count)) for hour, count in zip(hours, counts, strict=True)],
        latency_s=_percentiles(latencies),
        sampled=len(sample),
    )


def _percentiles(values: list[float]) -> dict[int, float]:
    """Nearest-rank percentiles; {} when there is nothing to rank."""
    if not values:
        return {}
    ordered = sorted(values)
    return {p: ordered[min(len(ordered) - 1, max(0, -(-p * len(ordered) // 100) - 1))] for p in PERCENTILES}
