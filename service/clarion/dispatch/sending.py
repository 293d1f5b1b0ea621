"""Sending claimed deliveries and recording every result (SPEC §5.2, §5.5–5.7).

A send result becomes an `Outcome`: `Delivered` → `delivered`;
`PermanentFailure` → `failed` with a short machine-readable `reason` (the text
before the first `:`, e.g. `address_rejected`, `http_410`) and the full text in
`last_error`; `TransientFailure` → stays `pending` with `next_attempt_at = now +
backoff` (at least the channel's `retry_after`), or `failed` with reason
`max_attempts` once `dispatch.max_attempts` attempts were made — unless the
channel deferred it (`attempted=False`: nothing was sent), which stays `pending`
until `retry_after`, the attempt not counted; a channel that
is disabled or gone at send time → `skipped` with `channel_disabled` /
`channel_unknown`.

`OutcomeWriter` writes outcomes in batches (`clarion.occurrences.store.outcomes`):
whatever finished while the previous batch was being written goes into the
next write unit, which also completes the occurrences that have nothing
pending left.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from clarion_plugins import Delivered, OutboundMessage, PermanentFailure, SendResult, TransientFailure

from clarion.channels.runtime import ChannelUnavailable
from clarion.occurrences.statuses import DeliveryReason, DeliveryStatus
from clarion.occurrences.store.claims import ClaimedDelivery
from clarion.occurrences.store.outcomes import Outcome, write_outcomes

logger = logging.getLogger(__name__)

RETRY_AFTER_CAP_S = 86400.0
"""A `retry_after` beyond a day is taken as a day."""
DEFERRED_MIN_S = 0.05
"""A send the channel deferred (`TransientFailure(attempted=False)`) comes back after at least this."""
_MAX_ERROR_CHARS = 2000
_REASON_UNSAFE = re.compile(r"[^a-z0-9_.-]+")
_WRITE_RETRY_FIRST_S = 0.2
_WRITE_RETRY_MAX_S = 5.0
_WRITE_TRIES_WHEN_CLOSING = 3


def backoff_delay(attempt: int, base: float, maximum: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds before retrying after failed attempt number `attempt` (1-based).

    `min(base · 2^(attempt−1), maximum)`, with equal jitter: uniformly between
    half of that and all of it, so workers that failed together spread out.
    """
    delay = min(base * 2.0 ** min(max(attempt - 1, 0), 62), maximum)
    return delay / 2 + rng() * delay / 2


def reason_code(text: str, default: str = "permanent_failure") -> str:
    """The machine-readable part of a failure: what precedes the first `:`, as a slug."""
    head = text.split(":", 1)[0].strip().lower()
    code = _REASON_UNSAFE.sub("_", head).strip("_")[:64]
    return code or default


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_ERROR_CHARS:
        return text
    return text[: _MAX_ERROR_CHARS - 1] + "…"


def outcome_of(
    delivery: ClaimedDelivery,
    result: SendResult | ChannelUnavailable,
    *,
    max_attempts: int,
    backoff_base_s: float,
    backoff_max_s: float,
    now: datetime,
    rng: Callable[[], float] = random.random,
) -> Outcome:
    """Turn a send result into the delivery's next state. Every result type is handled."""
    def make(status: str, **fields: Any) -> Outcome:
        return Outcome(delivery.id, delivery.occurrence_id, delivery.channel, status, **fields)

    if isinstance(result, Delivered):
        return make(DeliveryStatus.DELIVERED, provider_id=result.provider_id, delivered_at=now)
    if isinstance(result, PermanentFailure):
        return make(DeliveryStatus.FAILED, reason=reason_code(result.reason), last_error=_clip(result.reason))
    if isinstance(result, TransientFailure) and not result.attempted:
        wait = min(max(result.retry_after or 0.0, DEFERRED_MIN_S), RETRY_AFTER_CAP_S)
        wait *= 1 + rng() * 0.1  # deferred together, they come back spread out
        return make(DeliveryStatus.PENDING, last_error=_clip(result.reason), next_attempt_at=now + timedelta(seconds=wait),
                    attempt_counted=False)
    if isinstance(result, TransientFailure):
        if delivery.attempt >= max_attempts:
            return make(DeliveryStatus.FAILED, reason=DeliveryReason.MAX_ATTEMPTS, last_error=_clip(result.reason))
        delay = backoff_delay(delivery.attempt, backoff_base_s, backoff_max_s, rng)
        if result.retry_after is not None and result.retry_after > 0:
            delay = max(delay, min(result.retry_after, RETRY_AFTER_CAP_S))
        return make(DeliveryStatus.PENDING, last_error=_clip(result.reason), next_attempt_at=now + timedelta(seconds=delay))
    if isinstance(result, ChannelUnavailable):
        state = "disabled" if result.reason == DeliveryReason.CHANNEL_DISABLED else "not configured"
        return make(DeliveryStatus.SKIPPED, reason=result.reason, last_error=f"channel {delivery.channel!r} is {state}",
                    attempt_counted=False)
    raise TypeError(f"unknown send result {result!r}")  # ChannelSet.send already normalises results


def outbound_message(delivery: ClaimedDelivery) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=delivery.id,
        occurrence_id=delivery.occurrence_id,
        idempotency_key=delivery.id,
        channel=delivery.channel,
        event=delivery.event,
        address=delivery.address,
        subject=delivery.subject,
        text=delivery.text,
        html=delivery.html,
        context=delivery.context,
        attempt=delivery.attempt,
        secret=delivery.secret,
        timestamp=delivery.created,
        correlation_id=delivery.correlation_id,
        recipient=delivery.recipient,
    )


class OutcomeWriter:
    """Collects outcomes and writes them in batches, one write unit per batch.

    The first outcome is written at once; outcomes that arrive while a batch is
    being written form the next one. A batch that cannot be written (database
    down) is retried with backoff; the leases guard what a late write may change.
    """

    def __init__(
        self,
        *,
        worker_id: str,
        postgres: bool,
        on_written: Callable[[Sequence[Outcome], list[str]], None],
    ) -> None:
        self.worker_id = worker_id
        self.postgres = postgres
        self.on_written = on_written
        self._queue: list[Outcome] = []
        self._writing = 0  # outcomes of the batch being written (or waiting to be retried)
        self._failing = False
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="clarion-outcome-writer")

    def submit(self, outcome: Outcome) -> None:
        self._queue.append(outcome)
        self._ready.set()

    @property
    def backlog(self) -> int:
        """Outcomes not yet recorded: queued, or in a batch being written or retried.

        The dispatcher keeps renewing leases while this is not 0, so a delivery whose result
        waits for the database is not claimed (and sent) again meanwhile.
        """
        return len(self._queue) + self._writing

    @property
    def failing(self) -> bool:
        """True from a failed write until a write succeeds: the dispatcher claims no new sends meanwhile."""
        return self._failing

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._ready.wait()
                self._ready.clear()
                continue
            batch, self._queue = self._queue, []
            self._writing = len(batch)
            try:
                await self._write(batch)
            finally:
                self._writing = 0

    async def _write(self, batch: list[Outcome]) -> None:
        delay = _WRITE_RETRY_FIRST_S
        tries = 0
        while True:
            tries += 1
            try:
                completed = await write_outcomes(batch, worker_id=self.worker_id, postgres=self.postgres)
            except Exception:
                self._failing = True
                if self._closing and tries >= _WRITE_TRIES_WHEN_CLOSING:
                    logger.exception("could not record %d send results; their leases will expire and "
                                     "those messages will be sent again", len(batch))
                    return
                logger.exception("recording %d send results failed; retrying in %.1fs", len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _WRITE_RETRY_MAX_S)
                continue
            self._failing = False
            try:
                self.on_written(batch, completed)
            except Exception:
                logger.exception("outcome callback failed")
            return
