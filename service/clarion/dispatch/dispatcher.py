"""The dispatcher: turns pending occurrences into sent messages (SPEC §5).

One `Dispatcher` runs per process that dispatches (`clarion serve` with
`dispatch.embedded`, `clarion worker`). Its loop:

1. claim pending occurrences (leases), expand them — resolve, render, write the
   delivery rows in one write unit — and start sending the deliveries it could
   claim right away (per-channel capacity = the channel's `max_concurrency`);
2. claim due deliveries (new ones left for any worker, retries whose time has
   come, deliveries whose lease expired) up to the free capacity, and send them;
3. when there is nothing to do, wait for its `WorkSignal` (set by a trigger
   in this process, by PostgreSQL NOTIFY from other processes, or when a send
   frees capacity that work was waiting for), for the next retry this worker
   scheduled, or at most `dispatch.poll_interval_s`.

Sends run as tasks; their outcomes are written in batches by `OutcomeWriter`.
Leases of everything in hand are renewed every `lease_s / 3`. `stop()` stops
claiming, lets sends in flight finish (bounded), writes their outcomes and gives
back every lease still held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from clarion.channels.runtime import ChannelSet
from clarion.db.sql import utcnow
from clarion.dispatch.sending import OutcomeWriter, outbound_message, outcome_of
from clarion.logs import log_fields
from clarion.metrics.registry import record_delivery
from clarion.occurrences.planning import ExpansionError, plan_occurrence
from clarion.occurrences.statuses import DeliveryStatus
from clarion.occurrences.store.claims import ClaimedDelivery, Claims, OccurrenceRecord, new_worker_id
from clarion.occurrences.store.expansion import Plan, fail_occurrence, store_expansions
from clarion.occurrences.store.outcomes import Outcome, complete_finished_occurrences
from clarion.occurrences.store.retention import delete_expired
from clarion.rendering import TemplateRenderer
from clarion.settings import Settings
from clarion.work import WorkAnnouncer, listen_for_work

logger = logging.getLogger(__name__)

EXPANSION_BATCH = 32
"""Occurrences claimed and expanded together (one write unit for all of them)."""
UNAVAILABLE_CHANNEL_CAPACITY = 64
"""Deliveries on a disabled or unknown channel are only marked skipped; handle this many at once."""
EXPANSION_RETRIES = 3
"""Unexpected errors (not ExpansionError) tolerated before an occurrence is marked failed."""
SWEEP_INTERVAL_S = 30.0
RETENTION_INTERVAL_S = 600.0
"""How often a dispatcher deletes what `[retention]` no longer keeps."""
"""How often `processing` occurrences with nothing pending are looked for (a safety net)."""
STOP_GRACE_S = 10.0
_ERROR_PAUSE_S = 1.0
RETRY = "retry"
"""How the stats count an outcome that scheduled another attempt."""


@dataclass
class DispatcherStats:
    """Counters since start, for logs, tests and metrics."""

    expanded: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)
    """Delivery outcomes recorded: delivered, failed, skipped, retry (a retry was scheduled)."""
    occurrences_failed: int = 0

    def summary(self) -> str:
        parts = [f"expanded={self.expanded}"] + [f"{key}={self.deliveries[key]}" for key in sorted(self.deliveries)]
        return " ".join(parts)


class Dispatcher:
    """Claims, expands, sends and records; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        channels: ChannelSet,
        renderer: TemplateRenderer,
        work: WorkAnnouncer,
        postgres: bool,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings.dispatch
        self.retention = settings.retention
        self.database_url = settings.database.url
        self.channels = channels
        self.renderer = renderer
        self.work = work
        self.signal = work.signal
        self.worker_id = worker_id or new_worker_id()
        self.postgres = postgres
        self.claims = Claims(worker_id=self.worker_id, lease_s=self.settings.lease_s, postgres=self.postgres)
        self.writer = OutcomeWriter(worker_id=self.worker_id, postgres=self.postgres, on_written=self._written)
        self.stats = DispatcherStats()
        self._in_flight: Counter[str] = Counter()
        self._saturated: set[str] = set()
        self._sending: set[asyncio.Task[None]] = set()
        self._expanding = 0
        self._expansion_errors: Counter[str] = Counter()
        self._next_due: float | None = None
        self._last_sweep = 0.0
        self._last_retention = 0.0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._loop_task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self.writer.start()
        self._loop_task = asyncio.create_task(self._run(), name="clarion-dispatcher")
        self._tasks.append(asyncio.create_task(self._renew_leases(), name="clarion-lease-renewal"))
        if self.postgres:
            self._tasks.append(asyncio.create_task(
                listen_for_work(self.database_url, self.signal, self.settings.poll_interval_s), name="clarion-listen"
            ))
        logger.info("dispatcher %s started", self.worker_id)

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming, finish (or after `grace_s`, abandon) sends in flight, record, release leases."""
        if self._loop_task is None:
            return
        self._stopping = True
        self.signal.notify()
        await self._loop_task
        self._loop_task = None
        if self._sending:
            grace = min(self.settings.lease_s, STOP_GRACE_S) if grace_s is None else grace_s
            _, unfinished = await asyncio.wait(set(self._sending), timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            if unfinished:
                logger.warning("dispatcher stopped with %d send(s) unfinished; they will be sent again",
                               len(unfinished))
        await self.writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            released = await self.claims.release()
        except Exception:
            logger.exception("could not give back leases; they expire in %ss", self.settings.lease_s)
            released = 0
        if released:
            with contextlib.suppress(Exception):
                await self.work.announce()
        logger.info("dispatcher %s stopped: %s released=%d", self.worker_id, self.stats.summary(), released)

    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    # -- the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        signal = self.signal
        while not self._stopping:
            try:
                progressed = await self.dispatch_once()
            except Exception:
                logger.exception("dispatcher pass failed; retrying")
                progressed = False
                await signal.wait(_ERROR_PAUSE_S)
            if self._stopping:
                break
            if not progressed:
                await signal.wait(self._wait_timeout())

    def _wait_timeout(self) -> float:
        timeout = self.settings.poll_interval_s
        if self._next_due is not None:
            timeout = min(timeout, max(self._next_due - time.monotonic(), 0.0))
        return timeout

    async def dispatch_once(self) -> bool:
        """One pass: expand what can be claimed, send what is due. True if anything was claimed."""
        claimed = await self.claims.claim_occurrences(EXPANSION_BATCH)
        if claimed:
            await self._expand(claimed)
        if self._next_due is not None and time.monotonic() >= self._next_due:
            self._next_due = None
        started = await self._claim_due_deliveries()
        if time.monotonic() - self._last_sweep > SWEEP_INTERVAL_S:
            self._last_sweep = time.monotonic()
            if completed := await complete_finished_occurrences():
                logger.info("completed %d occurrence(s) found finished by the sweep", len(completed))
        if time.monotonic() - self._last_retention > RETENTION_INTERVAL_S:
            self._last_retention = time.monotonic()
            if deleted := await delete_expired(self.retention, utcnow()):
                logger.info("retention: deleted %d finished occurrence(s) and their deliveries", deleted)
        return bool(claimed) or started > 0

    # -- expansion -----------------------------------------------------------------

    async def _expand(self, occurrences: Sequence[OccurrenceRecord]) -> None:
        self._expanding += len(occurrences)
        try:
            results = await asyncio.gather(
                *(self._plan(occurrence) for occurrence in occurrences), return_exceptions=True
            )
            plans: list[Plan] = []
            for occurrence, result in zip(occurrences, results, strict=True):
                if isinstance(result, Plan):
                    plans.append(result)
                else:
                    await self._expansion_failed(occurrence, result)
            if not plans:
                return
            reserved = {channel: self._free(channel) for channel in self._channel_names(plans)}

            def capacity(channel: str) -> int:
                if reserved.get(channel, 0) <= 0:
                    self._saturated.add(channel)
                    return 0
                reserved[channel] -= 1
                return 1

            stored = await store_expansions(
                plans,
                worker_id=self.worker_id,
                lease_s=self.settings.lease_s,
                now=utcnow(),
                capacity=capacity,
            )
        finally:
            self._expanding -= len(occurrences)
        left_for_others = False
        for expansion in stored:
            occurrence = expansion.plan.occurrence
            self.stats.expanded += 1
            self._expansion_errors.pop(occurrence.id, None)
            deliveries = expansion.plan.deliveries
            if not deliveries:
                logger.warning("occurrence %s of event %s has no recipients", occurrence.id,
                               expansion.plan.scope.event.slug, extra={"occurrence_id": occurrence.id})
            for planned in deliveries:
                if planned.status != DeliveryStatus.PENDING:
                    self.stats.deliveries[planned.status] += 1
            pending = sum(1 for planned in deliveries if planned.status == DeliveryStatus.PENDING)
            left_for_others |= pending > len(expansion.claimed)
            for delivery in expansion.claimed:
                self._start_send(delivery)
        if left_for_others:
            await self.work.announce()

    async def _plan(self, occurrence: OccurrenceRecord) -> Plan:
        return await plan_occurrence(occurrence, self.channels, self.renderer)

    async def _expansion_failed(self, occurrence: OccurrenceRecord, error: BaseException) -> None:
        if isinstance(error, ExpansionError):
            message = str(error)
        else:
            self._expansion_errors[occurrence.id] += 1
            tries = self._expansion_errors[occurrence.id]
            logger.error("expanding occurrence %s failed (try %d of %d)", occurrence.id, tries, EXPANSION_RETRIES,
                         exc_info=error, extra={"occurrence_id": occurrence.id})
            if tries < EXPANSION_RETRIES:
                return  # the lease runs out and the occurrence is claimed again
            self._expansion_errors.pop(occurrence.id, None)
            message = f"{type(error).__name__}: {error}"
        logger.warning("occurrence %s could not be expanded: %s", occurrence.id, message,
                       extra={"occurrence_id": occurrence.id})
        self.stats.occurrences_failed += 1
        await fail_occurrence(occurrence.id, message, worker_id=self.worker_id, now=utcnow())

    @staticmethod
    def _channel_names(plans: Sequence[Plan]) -> set[str]:
        return {planned.recipient.channel for plan in plans for planned in plan.deliveries}

    # -- sending -------------------------------------------------------------------

    def _capacity(self, channel: str) -> int:
        settings = self.channels.settings().get(channel)
        if settings is None or not settings.enabled:
            return UNAVAILABLE_CHANNEL_CAPACITY
        return settings.max_concurrency

    def _free(self, channel: str) -> int:
        return max(self._capacity(channel) - self._in_flight[channel], 0)

    async def _claim_due_deliveries(self) -> int:
        if self.writer.failing:
            # Results cannot be recorded: take on no new sends (a delivery whose result waits may
            # have lost its lease if renewals failed too; claiming it would send it twice).
            return 0
        due = await self.claims.due_by_channel()
        wanted: dict[str, int] = {}
        for channel, count in due.items():
            free = self._free(channel)
            if free <= 0:
                self._saturated.add(channel)
                continue
            wanted[channel] = min(free, count)
            if count > free:
                self._saturated.add(channel)
        if not wanted:
            return 0
        ids = await self.claims.claim_deliveries(wanted)
        logger.debug("claimed %d of %s due (wanted %s)", len(ids), due, wanted)
        deliveries = await self.claims.load_claimed(ids)
        for delivery in deliveries:
            self._start_send(delivery)
        return len(deliveries)

    def _start_send(self, delivery: ClaimedDelivery) -> None:
        self._in_flight[delivery.channel] += 1
        task = asyncio.create_task(self._send(delivery), name=f"clarion-send-{delivery.id}")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, delivery: ClaimedDelivery) -> None:
        # Every line logged while sending (the channel's own included) names the delivery.
        with log_fields(occurrence_id=delivery.occurrence_id, delivery_id=delivery.id):
            await self._send_logged(delivery)

    async def _send_logged(self, delivery: ClaimedDelivery) -> None:
        try:
            result = await self.channels.send(delivery.channel, outbound_message(delivery))
            settings = self.settings
            outcome = outcome_of(
                delivery,
                result,
                max_attempts=settings.max_attempts,
                backoff_base_s=settings.backoff_base_s,
                backoff_max_s=settings.backoff_max_s,
                now=utcnow(),
            )
            self.writer.submit(outcome)
        except Exception:
            # Not a channel failure (ChannelSet turns those into results): the lease
            # expires and the delivery is tried again.
            logger.exception("sending delivery %s failed unexpectedly", delivery.id)
        finally:
            channel = delivery.channel
            self._in_flight[channel] -= 1
            # Work is waiting for this channel: claim again once half its capacity is free
            # (not after every send: each pass costs a few queries).
            if channel in self._saturated and self._free(channel) >= max(1, self._capacity(channel) // 2):
                self._saturated.discard(channel)
                self.signal.notify()

    def _written(self, outcomes: Sequence[Outcome], completed: list[str]) -> None:
        now = utcnow()
        for outcome in outcomes:
            status = RETRY if outcome.status == DeliveryStatus.PENDING else outcome.status
            self.stats.deliveries[status] += 1
            record_delivery(outcome.channel, status)
            ids = {"occurrence_id": outcome.occurrence_id, "delivery_id": outcome.delivery_id}
            if outcome.status in (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED):
                logger.info("delivery %s %s: %s", outcome.delivery_id, outcome.status, outcome.reason, extra=ids)
            elif outcome.next_attempt_at is not None:
                due = time.monotonic() + max((outcome.next_attempt_at - now).total_seconds(), 0.0)
                if self._next_due is None or due < self._next_due:
                    self._next_due = due
                    self.signal.notify()  # re-arm the wait with the earlier deadline
            elif outcome.status == DeliveryStatus.DELIVERED:
                logger.debug("delivery %s delivered", outcome.delivery_id, extra=ids)

    # -- leases and wake-ups -------------------------------------------------------

    async def _renew_leases(self) -> None:
        interval = self.settings.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            if not (self._sending or self._expanding or self.writer.backlog):
                continue
            try:
                await self.claims.renew()
            except Exception:
                logger.exception("renewing leases failed")
