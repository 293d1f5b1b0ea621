"""The outcome writer when writing send results fails (issue 8 §3): retried, never a second send while
the lease is held, given up on only when the dispatcher stops, and then sent again as documented.

The database refuses for real: a trigger on `delivery` raises the engine's own "disk full" error
(SQLite `RAISE(ABORT, 'database or disk is full')`, PostgreSQL SQLSTATE 53100) for the updates
that record a result, while the rest of the database keeps working.
"""

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from delivery_support import (  # noqa: F401
    Bed,
    HookSink,
    MailSink,
    catalog,
    delivery_config,
    event,
    hook_sink,
    mail_sink,
    member,
    notification,
    running_bed,
    user,
    wait_until,
)

from clarion.db.sql import as_datetime, utcnow
from clarion.process import new_dispatcher
from clarion.settings import Settings
from clarion_test_support import ENGINE

LEASE_S = 1.5
WRITER_LOG = "clarion.dispatch.sending"
RETRYING = "recording 1 send results failed; retrying in"
GIVING_UP = "could not record 1 send results; their leases will expire and those messages will be sent again"


class RefusedWrites:
    """Installs and removes the trigger that makes the database refuse writes to `delivery`.

    `results_only`: refuse only updates that change a delivery's status (recording a result);
    claims and lease renewals still succeed. Otherwise every update of `delivery` is refused.
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    async def refuse(self, *, results_only: bool) -> None:
        if ENGINE == "sqlite":
            when = "WHEN NEW.status <> OLD.status " if results_only else ""
            self._sqlite(
                f"CREATE TRIGGER refuse_results BEFORE UPDATE ON delivery {when}"
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
            return
        when = "WHEN (NEW.status IS DISTINCT FROM OLD.status) " if results_only else ""
        await self._postgres(
            "CREATE FUNCTION refuse_results() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100';"
            " END $$",
            f"CREATE TRIGGER refuse_results BEFORE UPDATE ON delivery FOR EACH ROW {when}"
            "EXECUTE FUNCTION refuse_results()",
        )

    async def allow(self) -> None:
        if ENGINE == "sqlite":
            self._sqlite("DROP TRIGGER IF EXISTS refuse_results")
        else:
            await self._postgres(
                "DROP TRIGGER IF EXISTS refuse_results ON delivery", "DROP FUNCTION IF EXISTS refuse_results()"
            )

    def _sqlite(self, statement: str) -> None:
        connection = sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=10)
        try:
            connection.execute(statement)
            connection.commit()
        finally:
            connection.close()

    async def _postgres(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.database_url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()


@pytest.fixture
async def refused(database_url: str) -> AsyncIterator[RefusedWrites]:
    writes = RefusedWrites(database_url)
    yield writes
    await writes.allow()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], mail_sink: MailSink) -> Settings:
    return make_settings(delivery_config(mail_sink.port, lease_s=LEASE_S))


async def _one_webhook(bed: Bed, hook_sink: HookSink) -> str:
    await bed.apply(catalog([user("alice", hook=hook_sink.url("alice"))], [member("alice", "webhook")],
                            [event(notifications=[notification(templates={})])]))
    return await bed.trigger(body={"context": {"n": 1}})


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == WRITER_LOG and text in record.getMessage()]


async def test_a_result_that_cannot_be_written_is_retried_until_the_database_takes_it(
    settings: Settings, hook_sink: HookSink, refused: RefusedWrites, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=WRITER_LOG)
    await refused.refuse(results_only=False)
    async with running_bed(settings) as bed:
        occurrence_id = await _one_webhook(bed, hook_sink)
        await hook_sink.wait_for(1)
        await wait_until(lambda: len(_messages(caplog, RETRYING)) >= 3, what="three failed writes")
        row = (await bed.deliveries(occurrence_id))[0]
        assert (row["status"], row["delivered_at"]) == ("pending", None)  # the result is not recorded yet
        await refused.allow()
        occurrence, deliveries = await bed.settled(occurrence_id)
        dispatcher = bed.runtime.dispatcher
        assert dispatcher is not None and dispatcher.stats.deliveries["delivered"] == 1
    [delivery] = deliveries
    assert (occurrence["status"], delivery["status"], delivery["attempts"]) == ("completed", "delivered", 1)
    assert (delivery["claimed_by"], delivery["lease_until"]) == (None, None)
    assert len(hook_sink.received) == 1  # sent once: the retries rewrite the result, they never resend
    retries = _messages(caplog, RETRYING)
    assert [record.getMessage().split("retrying in ")[1] for record in retries[:3]] == ["0.2s", "0.4s", "0.8s"]
    assert all(record.levelno == logging.ERROR and record.exc_info for record in retries)
    error = retries[0].exc_info[1]  # type: ignore[index]
    if ENGINE == "sqlite":
        assert (type(error), str(error)) == (sqlite3.IntegrityError, "database or disk is full")
    else:
        assert isinstance(error, asyncpg.DiskFullError)
    assert _messages(caplog, GIVING_UP) == []


async def test_while_a_result_waits_to_be_written_its_lease_is_kept_and_nothing_is_sent_twice(
    settings: Settings, hook_sink: HookSink, refused: RefusedWrites, caplog: pytest.LogCaptureFixture
) -> None:
    """Recording results fails for three leases' time, renewing leases does not: no second send."""
    caplog.set_level(logging.INFO, logger=WRITER_LOG)
    await refused.refuse(results_only=True)
    async with running_bed(settings) as bed:
        occurrence_id = await _one_webhook(bed, hook_sink)
        await hook_sink.wait_for(1)
        await asyncio.sleep(3 * LEASE_S)
        row = (await bed.deliveries(occurrence_id))[0]
        assert row["status"] == "pending" and row["claimed_by"] == bed.runtime.dispatcher.worker_id  # type: ignore[union-attr]
        assert len(hook_sink.received) == 1
        await refused.allow()
        _, deliveries = await bed.settled(occurrence_id)
    assert [(row["status"], row["attempts"]) for row in deliveries] == [("delivered", 1)]
    assert len(hook_sink.received) == 1
    assert len(_messages(caplog, RETRYING)) >= 4


async def test_when_renewing_fails_too_nothing_is_claimed_and_sent_again_before_the_result_is_written(
    settings: Settings, hook_sink: HookSink, refused: RefusedWrites, caplog: pytest.LogCaptureFixture
) -> None:
    """Every update of `delivery` fails for three leases' time, so the lease runs out; when the
    database takes writes again, the result is recorded before anything is claimed again."""
    caplog.set_level(logging.INFO, logger=WRITER_LOG)
    async with running_bed(settings) as bed:
        await refused.refuse(results_only=False)
        occurrence_id = await _one_webhook(bed, hook_sink)
        await hook_sink.wait_for(1)
        await asyncio.sleep(3 * LEASE_S)
        row = (await bed.deliveries(occurrence_id))[0]
        assert row["status"] == "pending" and as_datetime(row["lease_until"]) < utcnow()  # the lease has run out
        await refused.allow()
        _, deliveries = await bed.settled(occurrence_id)
        await asyncio.sleep(0.5)  # a claim pass that would re-send has had its chance
    assert [(row["status"], row["attempts"]) for row in deliveries] == [("delivered", 1)]
    assert len(hook_sink.received) == 1


async def test_a_dispatcher_stopping_gives_up_after_three_tries_and_the_message_is_sent_again(
    settings: Settings, hook_sink: HookSink, refused: RefusedWrites, caplog: pytest.LogCaptureFixture
) -> None:
    """What the writer promises when it cannot record a result before the process goes: it logs that
    the message will be sent again, and it is (with the same `webhook-id`, so the receiver can tell)."""
    caplog.set_level(logging.INFO, logger=WRITER_LOG)
    quiet = msgspec_replace_dispatch(settings, embedded=False)
    async with running_bed(quiet) as bed:
        occurrence_id = await _one_webhook(bed, hook_sink)
        await refused.refuse(results_only=True)
        dispatcher = new_dispatcher(bed.runtime)
        await dispatcher.start()
        await hook_sink.wait_for(1)
        await wait_until(lambda: len(_messages(caplog, RETRYING)) >= 1, what="a failed write")
        await dispatcher.stop()
        assert len(_messages(caplog, GIVING_UP)) == 1
        row = (await bed.deliveries(occurrence_id))[0]
        # given back on stop: claimable at once, the unrecorded attempt not counted
        assert (row["status"], row["claimed_by"], row["attempts"]) == ("pending", None, 0)
        await refused.allow()
        async with new_dispatcher(bed.runtime):
            _, deliveries = await bed.settled(occurrence_id)
    assert [(row["status"], row["attempts"]) for row in deliveries] == [("delivered", 1)]
    first, second = hook_sink.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == deliveries[0]["id"]


def msgspec_replace_dispatch(settings: Settings, **changes: object) -> Settings:
    import msgspec

    return msgspec.structs.replace(settings, dispatch=msgspec.structs.replace(settings.dispatch, **changes))
