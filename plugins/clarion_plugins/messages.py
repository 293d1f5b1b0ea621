"""What the dispatcher hands a channel, and what the channel hands back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec


def _now() -> datetime:
    return datetime.now(UTC)


class OutboundMessage(msgspec.Struct, kw_only=True, frozen=True):
    """One rendered message for one recipient on one channel.

    Fields may be added in later versions, always with a default, so a plugin
    that builds or reads these keeps working.
    """

    delivery_id: str
    occurrence_id: str
    idempotency_key: str
    """Stable across retries of the same delivery: use it for provider-side deduplication."""
    channel: str
    """The channel instance name from the configuration (`[channels.NAME]`)."""
    event: str
    """The event slug."""
    address: str
    """The recipient's address value (a mailbox, a URL, a phone number, ...)."""
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    """The trigger context, as the client sent it."""
    attempt: int = 1
    """1 for the first try, 2 for the first retry, ..."""
    secret: str | None = None
    """The assignment's own secret (e.g. a per-endpoint webhook secret), if it has one."""
    timestamp: datetime = msgspec.field(default_factory=_now)
    """When the occurrence was accepted."""
    correlation_id: str | None = None
    recipient: dict[str, Any] = msgspec.field(default_factory=dict)
    """The recipient user: `username`, `first_name`, `last_name`."""


class Delivered(msgspec.Struct, frozen=True, tag="delivered"):
    """The provider accepted the message."""

    provider_id: str | None = None
    """The provider's id for the message (a Message-ID, a request id), if it gave one."""


class PermanentFailure(msgspec.Struct, frozen=True, tag="permanent_failure"):
    """The message can never be delivered as it is: no retry."""

    reason: str


class TransientFailure(msgspec.Struct, frozen=True, tag="transient_failure"):
    """The message may be delivered later: the dispatcher retries with backoff."""

    reason: str
    retry_after: float | None = None
    """Seconds the provider asked to wait before the next try, if it said."""
    attempted: bool = True
    """False if the message was not handed over at all (the channel deferred it, e.g. because its
    destination already has as many requests in flight as it allows): the try is not counted
    against `dispatch.max_attempts` and the next one comes after `retry_after`, without backoff."""


SendResult = Delivered | PermanentFailure | TransientFailure
