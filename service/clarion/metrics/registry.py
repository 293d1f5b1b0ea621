"""The process's metrics. Labels never carry tenant data unless `metrics.per_event_labels` is on.

Counters and histograms are updated where things happen (`record_*`); queue
depth and the age of the oldest pending work are measured from the database
when `/metrics` is scraped.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry(auto_describe=True)

TRIGGERS = Counter(
    "clarion_triggers_total",
    "Accepted triggers (201), by event when per-event labels are enabled.",
    ["event"],
    registry=registry,
)
DELIVERIES = Counter(
    "clarion_deliveries_total",
    "Deliveries reaching a status: delivered, failed, skipped or retry (a transient failure that will be retried).",
    ["channel", "status"],
    registry=registry,
)
SEND_SECONDS = Histogram(
    "clarion_send_seconds",
    "Time a channel took to send one message.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=registry,
)
QUEUE_DEPTH = Gauge(
    "clarion_queue_depth",
    "Work waiting: pending occurrences and pending deliveries.",
    ["kind"],
    registry=registry,
)
OLDEST_PENDING_SECONDS = Gauge(
    "clarion_oldest_pending_seconds",
    "Age of the oldest pending occurrence or delivery (0 when none).",
    ["kind"],
    registry=registry,
)

ALL_EVENTS = "all"


def record_trigger(event_path: str, per_event_labels: bool) -> None:
    TRIGGERS.labels(event=event_path if per_event_labels else ALL_EVENTS).inc()


def record_delivery(channel: str, status: str) -> None:
    DELIVERIES.labels(channel=channel, status=status).inc()


def record_send_seconds(channel: str, seconds: float) -> None:
    SEND_SECONDS.labels(channel=channel).observe(seconds)
