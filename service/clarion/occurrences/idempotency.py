"""`Idempotency-Key` for triggers: claim, replay, conflict (SPEC §4).

A record is scoped to (API key, event, header value) by a unique index. The
first request *claims* it in a write unit of its own (state `in_flight`), so a
concurrent duplicate hits the unique index and sees the claim. The occurrence
is then inserted and the record marked `done` with the 201's body in one unit
(`finish`, called inside the caller's unit), so "done" and "occurrence exists"
are committed together. If the attempt fails the claim is released (deleted):
only 201s are remembered.

A repeat finds the record: same request fingerprint and `done` → replay the
stored answer; different fingerprint → 422; still `in_flight` → 409. Expired
records, and `in_flight` claims older than `STALE_CLAIM_S` (their process died
before committing: the occurrence and the `done` mark commit together, so
nothing was accepted), are taken over by the next request.
"""

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
import msgspec

from clarion.db.engine import write_transaction
from clarion.errors import Conflict, Unprocessable
from clarion.occurrences.tables import IdempotencyRecord

IN_FLIGHT = "in_flight"
DONE = "done"
STALE_CLAIM_S = 60.0
UNIQUE_VIOLATIONS = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)


@dataclass(frozen=True, slots=True)
class Claimed:
    record_id: int


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    body: bytes


def fingerprint(body: object, cid: str | None) -> str:
    """SHA-256 of the canonical JSON (sorted keys) of the decoded body and the correlation id."""
    canonical = msgspec.json.encode({"body": body, "cid": cid}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


async def claim(
    *, api_key_id: int, event_id: int, key: str, request_hash: str, retention_hours: int
) -> Claimed | Replay:
    """Claim `key` for this request, or say what an earlier request with it answered (409/422 raised)."""
    now = datetime.now(timezone.utc)
    claim_values = {
        IdempotencyRecord.request_hash: request_hash,
        IdempotencyRecord.state: IN_FLIGHT,
        IdempotencyRecord.response_status: None,
        IdempotencyRecord.response_body: None,
        IdempotencyRecord.created: now,
        IdempotencyRecord.expires_at: now + timedelta(hours=retention_hours),
    }
    scope = (
        (IdempotencyRecord.api_key == api_key_id)
        & (IdempotencyRecord.event == event_id)
        & (IdempotencyRecord.key == key)
    )
    async with write_transaction():
        try:
            async with write_transaction():
                inserted = await IdempotencyRecord.insert(
                    IdempotencyRecord(
                        api_key=api_key_id,
                        event=event_id,
                        key=key,
                        **{column._meta.name: value for column, value in claim_values.items()},
                    )
                ).returning(IdempotencyRecord.id)
            return Claimed(inserted[0]["id"])
        except UNIQUE_VIOLATIONS:
            pass
        existing = await IdempotencyRecord.select(
            IdempotencyRecord.id,
            IdempotencyRecord.request_hash,
            IdempotencyRecord.state,
            IdempotencyRecord.response_status,
            IdempotencyRecord.response_body,
            IdempotencyRecord.created,
            IdempotencyRecord.expires_at,
        ).where(scope).first()
        if existing is None:  # released between our insert and this read: the previous attempt failed
            raise Conflict("Idempotency-Key: a request with this key was just being processed; retry")
        if _utc(existing["expires_at"]) <= now or (
            existing["state"] == IN_FLIGHT
            and _utc(existing["created"]) <= now - timedelta(seconds=STALE_CLAIM_S)
        ):
            await IdempotencyRecord.update(claim_values).where(IdempotencyRecord.id == existing["id"])
            return Claimed(existing["id"])
    if existing["request_hash"] != request_hash:
        raise Unprocessable("Idempotency-Key: already used for a different request to this event")
    if existing["state"] != DONE:
        raise Conflict("Idempotency-Key: a request with this key is still in progress")
    return Replay(existing["response_status"], existing["response_body"].encode())


async def finish(record_id: int, status_code: int, body: bytes) -> None:
    """Remember the answer; call inside the unit of work that commits what the answer reports."""
    await IdempotencyRecord.update(
        {
            IdempotencyRecord.state: DONE,
            IdempotencyRecord.response_status: status_code,
            IdempotencyRecord.response_body: body.decode(),
        }
    ).where(IdempotencyRecord.id == record_id)


async def release(record_id: int) -> None:
    """Forget a claim whose request failed (only 201s are remembered)."""
    async with write_transaction():
        await IdempotencyRecord.delete().where(
            (IdempotencyRecord.id == record_id) & (IdempotencyRecord.state == IN_FLIGHT)
        )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
