"""Claiming work with leases (SPEC §5.3): occurrences to expand, deliveries to send (the dispatcher's SQL).

A claim writes `claimed_by` (this worker's id) and `lease_until = now + lease_s`
on the row; a lease that has run out makes the row claimable again, so the work
of a worker that died is picked up by another. Leases of work in hand are
renewed (`renew`), and given back on a graceful stop (`release`).

* PostgreSQL: the rows are picked with `SELECT … LIMIT n FOR UPDATE SKIP LOCKED`
  in a MATERIALIZED CTE that the claiming UPDATE joins, so any number of
  processes claim side by side and never the same row. (Not `WHERE id IN
  (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`: PostgreSQL may re-run that
  locking subquery while updating and claim far more than `n` rows.)
* SQLite: one writer at a time (the engine's group commit in a process,
  `BEGIN IMMEDIATE` across processes); the claiming UPDATE re-checks the lease
  in its own WHERE clause and reports what it claimed with RETURNING.

Before taking the write lock, a claim first *reads* whether anything is
claimable (on SQLite the read runs on a reader connection and never queues
behind writers), so an idle worker costs one cheap read per poll.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clarion.db.engine import fetch, write_transaction
from clarion.db.sql import as_datetime, decode_json, placeholders, utcnow
from clarion.occurrences.statuses import DeliveryStatus, OccurrenceStatus


def new_worker_id() -> str:
    """Unique per dispatcher instance: host, pid and a random suffix (fits `claimed_by`)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class OccurrenceRecord:
    """A claimed occurrence: what expansion needs."""

    id: str
    event_id: int
    context: dict[str, Any]
    options: Any
    correlation_id: str | None
    created: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds the lease of: everything needed to send it."""

    id: str
    occurrence_id: str
    channel: str
    address: str
    subject: str | None
    text: str | None
    html: str | None
    attempt: int
    """The attempt this send is (1 for the first)."""
    secret: str | None
    event: str
    context: dict[str, Any]
    created: datetime
    correlation_id: str | None
    recipient: dict[str, str]


class Claims:
    """The claiming SQL of one worker."""

    def __init__(self, *, worker_id: str, lease_s: float, postgres: bool) -> None:
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_s)
        self.postgres = postgres
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if postgres else ""

    # -- occurrences ---------------------------------------------------------------

    _CLAIMABLE_OCCURRENCES = (
        "SELECT o.id FROM occurrence o"
        " JOIN event e ON e.id = o.event"
        " JOIN application a ON a.id = e.application"
        " JOIN project p ON p.id = a.project"
        " WHERE o.status = {} AND (o.lease_until IS NULL OR o.lease_until < {})"
        " AND e.paused = {} AND a.paused = {} AND p.paused = {}"
        " ORDER BY o.id LIMIT {}"
    )

    async def claim_occurrences(self, limit: int) -> list[OccurrenceRecord]:
        """Claim up to `limit` pending occurrences, oldest first, skipping paused ones
        (an occurrence under a paused event, application or project stays pending)."""
        now = utcnow()
        claimable = (OccurrenceStatus.PENDING, now, False, False, False, limit)
        if not await fetch(self._CLAIMABLE_OCCURRENCES, *claimable):
            return []
        lock = " FOR UPDATE OF o SKIP LOCKED" if self.postgres else ""
        async with write_transaction():
            rows = await fetch(
                f"WITH picked AS MATERIALIZED ({self._CLAIMABLE_OCCURRENCES}{lock})"
                " UPDATE occurrence SET claimed_by = {}, lease_until = {}, updated = {}"
                " WHERE id IN (SELECT id FROM picked)"
                " AND status = {} AND (lease_until IS NULL OR lease_until < {})"
                " RETURNING id, event, context, options, correlation_id, created",
                *claimable,
                self.worker_id,
                now + self.lease,
                now,
                OccurrenceStatus.PENDING,
                now,
            )
        records = [
            OccurrenceRecord(
                id=row["id"],
                event_id=row["event"],
                context=decode_json(row["context"], {}),
                options=decode_json(row["options"], {}),
                correlation_id=row["correlation_id"],
                created=as_datetime(row["created"]),
            )
            for row in rows
        ]
        return sorted(records, key=lambda record: record.id)

    # -- deliveries ----------------------------------------------------------------

    async def due_by_channel(self) -> dict[str, int]:
        """Channel → how many deliveries are due and unclaimed (a read; no lock taken)."""
        now = utcnow()
        rows = await fetch(
            "SELECT channel, COUNT(*) AS due FROM delivery"
            " WHERE status = {} AND next_attempt_at <= {} AND (lease_until IS NULL OR lease_until < {})"
            " GROUP BY channel",
            DeliveryStatus.PENDING,
            now,
            now,
        )
        return {row["channel"]: int(row["due"]) for row in rows}

    async def claim_deliveries(self, wanted: Mapping[str, int]) -> list[str]:
        """Claim due deliveries, at most `wanted[channel]` per channel, in one write unit.

        Claiming counts the attempt (`attempts + 1`), so a message whose sending
        kills its worker again and again still ends after `max_attempts`.
        """
        now = utcnow()
        claimed: list[str] = []
        async with write_transaction():
            for channel, limit in wanted.items():
                if limit <= 0:
                    continue
                rows = await fetch(
                    "WITH picked AS MATERIALIZED (SELECT id FROM delivery"
                    " WHERE status = {} AND channel = {} AND next_attempt_at <= {}"
                    " AND (lease_until IS NULL OR lease_until < {})"
                    f" ORDER BY next_attempt_at, id LIMIT {{}}{self._skip_locked})"
                    " UPDATE delivery SET claimed_by = {}, lease_until = {}, attempts = attempts + 1, updated = {}"
                    " WHERE id IN (SELECT id FROM picked)"
                    " AND status = {} AND (lease_until IS NULL OR lease_until < {})"
                    " RETURNING id",
                    DeliveryStatus.PENDING,
                    channel,
                    now,
                    now,
                    limit,
                    self.worker_id,
                    now + self.lease,
                    now,
                    DeliveryStatus.PENDING,
                    now,
                )
                claimed.extend(row["id"] for row in rows)
        return claimed

    async def load_claimed(self, ids: Sequence[str]) -> list[ClaimedDelivery]:
        """What sending needs of claimed deliveries (the assignment's current secret included)."""
        if not ids:
            return []
        rows = await fetch(
            "SELECT d.id, d.occurrence, d.channel, d.address, d.subject, d.text, d.html, d.attempts,"
            " asg.secret, o.context, o.created, o.correlation_id, e.slug AS event_slug,"
            " u.username, u.first_name, u.last_name, u.email"
            " FROM delivery d"
            " JOIN occurrence o ON o.id = d.occurrence"
            " JOIN event e ON e.id = o.event"
            " JOIN assignment asg ON asg.id = d.assignment"
            " JOIN address ad ON ad.id = asg.address"
            ' JOIN clarion_user u ON u.id = ad."user"'
            f" WHERE d.id IN ({placeholders(len(ids))}) AND d.claimed_by = {{}}",
            *ids,
            self.worker_id,
        )
        return [
            ClaimedDelivery(
                id=row["id"],
                occurrence_id=row["occurrence"],
                channel=row["channel"],
                address=row["address"],
                subject=row["subject"],
                text=row["text"],
                html=row["html"],
                attempt=max(int(row["attempts"]), 1),
                secret=row["secret"],
                event=row["event_slug"],
                context=decode_json(row["context"], {}),
                created=as_datetime(row["created"]),
                correlation_id=row["correlation_id"],
                recipient={
                    "username": row["username"],
                    "first_name": row["first_name"] or "",
                    "last_name": row["last_name"] or "",
                    "email": row["email"] or "",
                },
            )
            for row in sorted(rows, key=lambda row: row["id"])
        ]

    # -- leases --------------------------------------------------------------------

    async def renew(self) -> None:
        """Push the lease of everything this worker holds `lease_s` into the future."""
        now = utcnow()
        async with write_transaction():
            for table, pending in (("occurrence", OccurrenceStatus.PENDING), ("delivery", DeliveryStatus.PENDING)):
                await fetch(
                    f"UPDATE {table} SET lease_until = {{}} WHERE claimed_by = {{}} AND status = {{}} RETURNING id",
                    now + self.lease,
                    self.worker_id,
                    pending,
                )

    async def release(self) -> int:
        """Give back every lease still held (a graceful stop): the rows are claimable at once.

        A delivery given back was not sent (or its result is unknown), so its
        claimed attempt is not counted. Returns how many rows were released.
        """
        async with write_transaction():
            deliveries = await fetch(
                "UPDATE delivery SET claimed_by = NULL, lease_until = NULL,"
                " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
                " WHERE claimed_by = {} AND status = {} RETURNING id",
                self.worker_id,
                DeliveryStatus.PENDING,
            )
            occurrences = await fetch(
                "UPDATE occurrence SET claimed_by = NULL, lease_until = NULL"
                " WHERE claimed_by = {} AND status = {} RETURNING id",
                self.worker_id,
                OccurrenceStatus.PENDING,
            )
        return len(deliveries) + len(occurrences)
