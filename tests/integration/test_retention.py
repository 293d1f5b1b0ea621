"""`[retention]`: old finished occurrences and expired idempotency records are deleted, nothing else."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from catalog_fixtures import SPEC_CATALOG
from test_catalog import CHANNEL_KINDS

from clarion.auth.tables import ApiKey
from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import decode_catalog
from clarion.database import running_engine
from clarion.notifications.tables import Notification
from clarion.ids import new_id
from clarion.occurrences.store.retention import delete_expired
from clarion.occurrences.tables import IdempotencyRecord
from clarion.occurrences.tables import Delivery, Occurrence
from clarion.events.tables import Event
from clarion.settings import DatabaseSettings, RetentionSettings
from clarion.users.tables import Assignment

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[None]:
    async with running_engine(DatabaseSettings(url=database_url)):
        await apply_catalog(decode_catalog(SPEC_CATALOG), CHANNEL_KINDS)
        yield


async def occurrence(age_days: float, status: str) -> str:
    event = await Event.select(Event.id).first()
    notification = await Notification.select(Notification.id).first()
    assignment = await Assignment.select(Assignment.id).first()
    assert event and notification and assignment
    created = NOW - timedelta(days=age_days)
    occurrence_id = new_id()
    await Occurrence.insert(Occurrence(id=occurrence_id, event=event["id"], status=status, created=created, updated=created))
    await Delivery.insert(
        Delivery(id=new_id(), occurrence=occurrence_id, assignment=assignment["id"], notification=notification["id"],
                 channel="email", address="alice@example.com", status="delivered", created=created, updated=created)
    )
    return occurrence_id


async def idempotency_record(key: str, expires_in_hours: float) -> None:
    api_key = await ApiKey.select(ApiKey.id).first()
    event = await Event.select(Event.id).first()
    assert api_key and event
    await IdempotencyRecord.insert(
        IdempotencyRecord(api_key=api_key["id"], event=event["id"], key=key, request_hash="x", state="done",
                          created=NOW, expires_at=NOW + timedelta(hours=expires_in_hours))
    )


async def test_only_old_finished_occurrences_and_expired_keys_go(engine: None) -> None:
    old_completed = await occurrence(31, "completed")
    old_failed = await occurrence(40, "failed")
    old_pending = await occurrence(45, "pending")
    recent = await occurrence(29, "completed")
    await idempotency_record("expired", -1)
    await idempotency_record("live", 1)

    deleted = await delete_expired(RetentionSettings(occurrences_days=30), NOW)

    assert deleted == 2
    left = {row["id"] for row in await Occurrence.select(Occurrence.id)}
    assert left == {old_pending, recent}
    assert {row["occurrence"] for row in await Delivery.select(Delivery.occurrence)} == left
    assert old_completed not in left and old_failed not in left
    assert [row["key"] for row in await IdempotencyRecord.select(IdempotencyRecord.key)] == ["live"]


async def test_large_backlogs_are_deleted_in_batches(engine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import clarion.occurrences.store.retention as retention

    monkeypatch.setattr(retention, "BATCH", 3)
    for _ in range(7):
        await occurrence(60, "completed")
    assert await delete_expired(RetentionSettings(occurrences_days=30), NOW) == 7
    assert await Occurrence.count() == 0 and await Delivery.count() == 0
