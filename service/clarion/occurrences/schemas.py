"""Response bodies of the occurrence observability API (SPEC §3.3)."""

from datetime import datetime
from typing import Any

from clarion.occurrences.statuses import OccurrenceStatus
from clarion.schemas import JsonObject, Response

OCCURRENCE_STATUSES = tuple(OccurrenceStatus)


class DeliveryOut(Response):
    """One message of an occurrence: where it went and how it went."""

    id: str
    channel: str
    address: str
    notification: int
    notification_name: str
    username: str
    status: str
    attempts: int
    reason: str | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    provider_id: str | None
    created: datetime
    updated: datetime


class OccurrenceOut(Response):
    """An occurrence as the list shows it."""

    id: str
    event: str
    status: str
    recipients: int
    correlation_id: str | None
    error: str | None
    created: datetime
    updated: datetime
    context: JsonObject
    options: JsonObject


class OccurrenceDetail(OccurrenceOut, kw_only=True):
    """An occurrence with every delivery it expanded into."""

    deliveries: list[DeliveryOut]


class PreviewMessage(Response):
    """A message a trigger would produce: to whom, on which channel, what it would say, or why not."""

    notification: int
    notification_name: str
    channel: str
    address: str
    username: str
    status: str
    """`pending` (it would be sent), or already `skipped` / `failed` at expansion."""
    reason: str | None
    error: str | None
    subject: str | None
    text: str | None
    html: str | None


class PreviewOut(Response):
    """What a trigger with this body would do now: nothing was stored or sent."""

    event: str
    paused: bool
    recipients: int
    messages: list[PreviewMessage]
    context: dict[str, Any]
