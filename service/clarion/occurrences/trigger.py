"""Triggering an event (SPEC §3.1, §4): the occurrence is committed before the 201 is answered.

`trigger_event` is the hot write path: the event is resolved from the slug
cache (no query), the body decoded with msgspec, and the occurrence inserted
through `append_row`, in one batch with the triggers that arrive meanwhile
(`clarion.db.appender`); it returns only after that batch is committed, then
wakes the dispatchers (`WorkAnnouncer`). With an `Idempotency-Key` the claim is
a unit of its own, and the occurrence and the idempotency record are written in
one unit after it (see `clarion.occurrences.idempotency`).

Order of checks (after the guards' 401/403): 404 unknown slugs → 400 bad body,
`cid` or `Idempotency-Key` → idempotency 409/422/replay → 400 for an event (or
parent) that is inactive or locked, or an unconfigured channel → 201. A replay
therefore answers the original 201 even if the event was locked since.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import msgspec
from msgspec import UNSET

from clarion.auth.services import ApiPrincipal
from clarion.channels.runtime import ChannelSet
from clarion.db.engine import append_row, fetch, write_transaction
from clarion.decoding import decode_body
from clarion.errors import BadRequest
from clarion.events.directory import EventDirectory, EventRef
from clarion.events.services import EventPath
from clarion.ids import new_id
from clarion.metrics.registry import record_trigger
from clarion.occurrences import idempotency
from clarion.occurrences.schemas import TriggerRequest, TriggerResponse, filter_rules_error
from clarion.settings import Settings
from clarion.work import WorkAnnouncer

logger = logging.getLogger(__name__)

MAX_HEADER_VALUE = 255
IDEMPOTENCY_HEADER = "Idempotency-Key"


# One statement, no ORM object per trigger: this is the hot path.
_INSERT_OCCURRENCE = (
    "INSERT INTO occurrence (id, event, context, options, correlation_id, status, recipients, created, updated)"
    " VALUES ({}, {}, {}, {}, {}, 'pending', 0, {}, {})"
)


@dataclass(frozen=True, slots=True)
class TriggerOutcome:
    """What to answer: the status, the JSON body, and whether it is a replayed idempotent answer."""

    status_code: int
    body: bytes
    replayed: bool = False


async def trigger_event(
    events: EventDirectory,
    principal: ApiPrincipal,
    path: EventPath,
    request: TriggerRequest,
    *,
    channels: ChannelSet,
    work: WorkAnnouncer,
    settings: Settings,
    cid: str | None,
    idempotency_key: str | None,
) -> TriggerOutcome:
    """Accept a trigger: the 201's body once the occurrence is committed (or the replayed one)."""
    event = await events.event(path.org, path.prj, path.app, path.evt)
    cid = _header_value("cid", cid)
    idempotency_key = _header_value(IDEMPOTENCY_HEADER, idempotency_key)
    if idempotency_key is None:
        return await _accept(channels, work, settings, path, event, request, cid, record_id=None)
    claimed = await idempotency.claim(
        api_key_id=principal.key_id,
        event_id=event.id,
        key=idempotency_key,
        request_hash=idempotency.fingerprint(msgspec.to_builtins(request), cid),
        retention_hours=settings.retention.idempotency_hours,
    )
    if isinstance(claimed, idempotency.Replay):
        return TriggerOutcome(claimed.status_code, claimed.body, replayed=True)
    try:
        return await _accept(channels, work, settings, path, event, request, cid, record_id=claimed.record_id)
    except BaseException:
        await idempotency.release(claimed.record_id)
        raise


def decode_trigger_request(body: bytes) -> TriggerRequest:
    """The body as a `TriggerRequest` (empty = `{}`); 400 naming the offending field."""
    if not body.strip():
        return TriggerRequest()
    request = decode_body(body, TriggerRequest, unknown_field=_unknown_field)
    problem = filter_rules_error(request.options.filters)
    if problem:
        raise BadRequest(problem)
    return request


def _unknown_field(field: str) -> str:
    return "unknown option" if field.startswith("options.") and field.count(".") == 1 else "unknown field"


def _header_value(name: str, value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > MAX_HEADER_VALUE:
        raise BadRequest(f"{name}: at most {MAX_HEADER_VALUE} characters")
    return value


async def _accept(
    channels: ChannelSet,
    work: WorkAnnouncer,
    settings: Settings,
    path: EventPath,
    event: EventRef,
    request: TriggerRequest,
    cid: str | None,
    *,
    record_id: int | None,
) -> TriggerOutcome:
    if event.refusal is not None:
        raise BadRequest(f"{event.refusal}: it cannot be triggered")
    for index, channel in enumerate(request.options.channels or ()):
        if channels.state(channel) == "unknown":
            raise BadRequest(f"options.channels[{index}]: channel {channel!r} is not configured")
    occurrence_id = new_id()
    body = msgspec.json.encode(TriggerResponse(occurrence=occurrence_id, paused=True if event.paused else UNSET))
    now = datetime.now(timezone.utc)
    row = (
        occurrence_id,
        event.id,
        msgspec.json.encode(request.context).decode(),
        msgspec.json.encode(request.options).decode(),
        cid,
        now,
        now,
    )
    if record_id is None:
        await append_row(_INSERT_OCCURRENCE, *row)  # batched with concurrent triggers
    else:
        async with write_transaction():
            await fetch(_INSERT_OCCURRENCE, *row)
            await idempotency.finish(record_id, 201, body)
    record_trigger(f"{path.org}/{path.prj}/{path.app}/{path.evt}", settings.metrics.per_event_labels)
    try:
        await work.announce()
    except Exception:  # the occurrence is committed; the dispatcher's poll will find it
        logger.warning("waking the dispatcher after occurrence %s failed", occurrence_id, exc_info=True)
    return TriggerOutcome(201, body)
