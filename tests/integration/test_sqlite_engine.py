"""ClarionSQLiteEngine on real SQLite files: group commit, isolation, readers, processes, durability."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from piccolo.columns import Integer, Varchar
from piccolo.engine.exceptions import TransactionError
from piccolo.table import Table

from clarion.db.sqlite import BatchNotCommittedError, ClarionSQLiteEngine, is_read_only_sql

pytestmark = pytest.mark.no_db

WRITER_SCRIPT = Path(__file__).parent / "engine_scripts" / "sqlite_engine_writer.py"
SERVICE_ROOT = Path(__file__).resolve().parents[2] / "service"


class EngineItem(Table, tablename="engine_item"):
    """A throwaway row; bound to each test's engine by the `engine` fixture."""

    name = Varchar(length=100, unique=True)
    writer = Integer()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[ClarionSQLiteEngine]:
    engine = ClarionSQLiteEngine(str(tmp_path / "engine.sqlite"))
    previous = EngineItem._meta._db
    EngineItem._meta._db = engine
    await engine.start()
    await EngineItem.create_table()
    try:
        yield engine
    finally:
        await engine.close()
        EngineItem._meta._db = previous


async def names() -> set[str]:
    return {row["name"] for row in await EngineItem.select(EngineItem.name)}


def file_names(path: str) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM engine_item")}
    finally:
        connection.close()


# --- 1. group commit under 48 concurrent writers ------------------------------------------


async def test_48_concurrent_writers_all_succeed_and_commits_are_grouped(
    engine: ClarionSQLiteEngine,
) -> None:
    errors: list[BaseException] = []

    async def writer(number: int) -> None:
        for sequence in range(40):
            try:
                if sequence % 2:
                    await EngineItem.insert(EngineItem(name=f"w{number}-{sequence}", writer=number))
                else:
                    async with engine.write():
                        await EngineItem.insert(EngineItem(name=f"w{number}-{sequence}", writer=number))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    units_before = engine.stats.units
    commits_before = engine.stats.commits
    await asyncio.gather(*(writer(number) for number in range(48)))

    assert errors == []
    assert await EngineItem.count() == 48 * 40
    assert await names() == {f"w{n}-{s}" for n in range(48) for s in range(40)}
    units = engine.stats.units - units_before
    commits = engine.stats.commits - commits_before
    assert units == 48 * 40
    assert commits < units / 4, (commits, units)
    assert engine.stats.largest_batch > 1


# --- 2. failure isolation ---------------------------------------------------------------


async def test_a_failing_unit_in_a_batch_affects_only_its_caller(engine: ClarionSQLiteEngine) -> None:
    await EngineItem.insert(EngineItem(name="taken", writer=0))
    release = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        # Holds the writer so every other unit queues and joins one batch.
        async with engine.write():
            await EngineItem.insert(EngineItem(name="holder", writer=0))
            holding.set()
            await release.wait()

    async def unit(number: int) -> None:
        async with engine.write():
            await EngineItem.insert(EngineItem(name=f"ok-{number}-a", writer=number))
            if number == 7:  # second statement violates UNIQUE: the whole unit goes
                await EngineItem.insert(EngineItem(name="taken", writer=number))
            await EngineItem.insert(EngineItem(name=f"ok-{number}-b", writer=number))

    holder_task = asyncio.create_task(holder())
    await holding.wait()
    commits_before = engine.stats.commits
    tasks = [asyncio.create_task(unit(number)) for number in range(20)]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(holder_task, *tasks, return_exceptions=True)

    failures = {index: result for index, result in enumerate(results[1:]) if result is not None}
    assert list(failures) == [7]
    assert isinstance(failures[7], sqlite3.IntegrityError)
    assert "UNIQUE" in str(failures[7])
    expected = {"taken", "holder"} | {f"ok-{n}-{p}" for n in range(20) if n != 7 for p in "ab"}
    assert await names() == expected
    assert engine.stats.commits - commits_before <= 2  # all of them in one or two batches
    assert engine.stats.failed_units >= 1


async def test_a_failed_commit_fails_every_unit_of_its_batch(engine: ClarionSQLiteEngine) -> None:
    """A deferred foreign key is only checked at COMMIT: that batch is lost, for all its units."""
    await EngineItem.raw("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await EngineItem.raw(
        "CREATE TABLE child (id INTEGER PRIMARY KEY,"
        " parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    release = asyncio.Event()
    holding = asyncio.Event()

    async def poisoner() -> None:
        async with engine.write():
            await EngineItem.raw("INSERT INTO child (parent) VALUES (999)")
            holding.set()
            await release.wait()

    async def unit(number: int) -> None:
        async with engine.write():
            await EngineItem.insert(EngineItem(name=f"lost-{number}", writer=number))

    first = asyncio.create_task(poisoner())
    await holding.wait()
    others = [asyncio.create_task(unit(number)) for number in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(first, *others, return_exceptions=True)

    assert all(isinstance(result, BatchNotCommittedError) for result in results), results
    assert "FOREIGN KEY" in str(results[0])
    assert await names() == set()
    assert engine.stats.failed_batches == 1
    # The writer is usable again.
    await EngineItem.insert(EngineItem(name="after", writer=0))
    assert await names() == {"after"}


# --- 3. readers ---------------------------------------------------------------------------


async def test_reads_outside_units_see_committed_data_and_do_not_block_writes(
    engine: ClarionSQLiteEngine,
) -> None:
    async with engine.write():
        await EngineItem.insert(EngineItem(name="committed", writer=1))
    assert await names() == {"committed"}  # a reader sees it right after write() returned

    slow_read = asyncio.create_task(
        EngineItem.raw(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000)"
            " SELECT count(*) AS n FROM c"
        ).run()
    )
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    for number in range(20):
        await EngineItem.insert(EngineItem(name=f"during-{number}", writer=2))
    writes_took = time.perf_counter() - started
    assert not slow_read.done(), "the read finished too fast to prove anything"
    assert writes_took < 1.0
    assert len(await names()) == 21  # other readers are free too
    assert (await slow_read)[0]["n"] == 4000000


async def test_statements_are_routed_by_what_they_do(engine: ClarionSQLiteEngine) -> None:
    assert is_read_only_sql("SELECT 1")
    assert is_read_only_sql("  -- comment\n (SELECT 1) UNION SELECT 2")
    assert is_read_only_sql("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not is_read_only_sql("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x")
    assert is_read_only_sql("PRAGMA table_info(engine_item)")
    assert is_read_only_sql("pragma user_version")
    assert not is_read_only_sql("PRAGMA user_version = 3")
    assert not is_read_only_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert not is_read_only_sql("DELETE FROM engine_item")

    commits = engine.stats.commits
    assert await EngineItem.raw("PRAGMA user_version") == [{"user_version": 0}]
    assert engine.stats.commits == commits  # read: no unit
    await EngineItem.raw("PRAGMA user_version = 7")
    assert engine.stats.commits == commits + 1
    assert await EngineItem.raw("PRAGMA user_version") == [{"user_version": 7}]
    with pytest.raises(TransactionError):
        await EngineItem.raw("BEGIN")
    with pytest.raises(TransactionError):
        async with engine.write():
            await EngineItem.raw("COMMIT")


# --- 4. several processes ------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVICE_ROOT), env.get("PYTHONPATH")]))
    return env


async def test_two_processes_and_this_one_write_the_same_file_without_errors(
    engine: ClarionSQLiteEngine,
) -> None:
    start_at = time.time() + 2.0
    seconds = 2.0
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(WRITER_SCRIPT),
                "load",
                engine.path,
                f"p{index}",
                str(start_at),
                str(seconds),
                "8",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_subprocess_env(),
        )
        for index in range(2)
    ]
    try:
        acked: set[str] = set()
        errors: list[str] = []
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.monotonic() + seconds

        async def writer(number: int) -> None:
            sequence = 0
            while time.monotonic() < deadline:
                sequence += 1
                name = f"main-{number}-{sequence}"
                try:
                    async with engine.write():
                        await EngineItem.insert(EngineItem(name=name, writer=number))
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
                else:
                    acked.add(name)

        await asyncio.gather(*(writer(number) for number in range(16)))
        outputs = [await asyncio.to_thread(process.communicate, timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()

    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
        report = json.loads(stdout.strip().splitlines()[-1])
        assert report["errors"] == [], report["errors"][:5]
        assert report["acked"], f"a process made no progress: {report['stats']}"
        acked |= set(report["acked"])
    assert errors == []
    assert acked
    assert await names() == acked


# --- 5. durability ------------------------------------------------------------------------


async def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    path = str(tmp_path / "durable.sqlite")
    setup = ClarionSQLiteEngine(path)
    EngineItem._meta._db = setup
    try:
        await EngineItem.create_table()
    finally:
        await setup.close()

    process = subprocess.Popen(
        [sys.executable, str(WRITER_SCRIPT), "ack", path, "d", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_subprocess_env(),
    )
    try:
        assert process.stdout is not None
        output = b""
        while output.count(b"\n") < 300:  # let it run, then kill it mid-stream
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, process.stderr.read().decode() if process.stderr else "writer died"
            output += line
        os.kill(process.pid, signal.SIGKILL)
        rest, _ = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -signal.SIGKILL

    lines = (output + rest).decode().split("\n")
    acked = set(lines[:-1])  # the last piece has no newline: it may be cut short
    assert len(acked) >= 300
    reopened = ClarionSQLiteEngine(path)
    EngineItem._meta._db = reopened
    try:
        present = await names()
    finally:
        await reopened.close()
    missing = acked - present
    assert not missing, sorted(missing)[:10]
    assert file_names(path) >= acked


# --- 6. Piccolo features inside units ---------------------------------------------------------


async def test_piccolo_queries_inside_a_unit(engine: ClarionSQLiteEngine) -> None:
    async with engine.write() as tx:
        assert engine.transaction_exists()
        assert tx.connection is not None
        inserted = await EngineItem.insert(
            EngineItem(name="a", writer=1), EngineItem(name="b", writer=2)
        ).returning(EngineItem.id, EngineItem.name)
        assert [row["name"] for row in inserted] == ["a", "b"]
        await EngineItem.update({EngineItem.writer: 10}).where(EngineItem.name == "a")
        assert await EngineItem.select(EngineItem.writer).where(EngineItem.name == "a").first() == {
            "writer": 10
        }
        item = await EngineItem.objects().get(EngineItem.name == "b")
        assert item is not None
        item.writer = 20
        await item.save()
        created = await EngineItem.objects().create(name="c", writer=3)
        assert created.id
        assert await EngineItem.raw("SELECT count(*) AS n FROM engine_item") == [{"n": 3}]
        assert await EngineItem.exists().where(EngineItem.name == "c")

        # Nested unit: its own savepoint, rolled back alone.
        with pytest.raises(ValueError):
            async with engine.write():
                await EngineItem.insert(EngineItem(name="nested-lost", writer=4))
                raise ValueError
        async with engine.transaction():
            await EngineItem.insert(EngineItem(name="nested-kept", writer=5))
        with pytest.raises(TransactionError):
            engine.transaction(allow_nested=False)

        # Piccolo's savepoint API.
        savepoint = await tx.savepoint()
        await EngineItem.insert(EngineItem(name="to-undo", writer=6))
        await savepoint.rollback_to()
        await savepoint.release()

        # Cursor batches on the writer see the unit's own writes.
        async with (
            await EngineItem.select(EngineItem.name).order_by(EngineItem.name).batch(batch_size=2) as batch
        ):
            seen = [row["name"] async for chunk in batch for row in chunk]
        assert seen == ["a", "b", "c", "nested-kept"]
    assert not engine.transaction_exists()

    assert await names() == {"a", "b", "c", "nested-kept"}
    rows = await EngineItem.select().order_by(EngineItem.name).output(as_json=False)
    assert [(row["name"], row["writer"]) for row in rows] == [
        ("a", 10),
        ("b", 20),
        ("c", 3),
        ("nested-kept", 5),
    ]
    # Batches outside units use (and give back) a reader.
    async with (
        await EngineItem.select(EngineItem.name)
        .where(EngineItem.writer > 4)
        .order_by(EngineItem.name)
        .batch(batch_size=2) as batch
    ):
        assert [row["name"] async for chunk in batch for row in chunk] == ["a", "b", "nested-kept"]
    assert engine._idle_readers is not None
    assert engine._idle_readers.qsize() == engine.readers


async def test_scope_rollback_commit_and_tasks_outliving_their_unit(engine: ClarionSQLiteEngine) -> None:
    go = asyncio.Event()

    async def later() -> None:
        await go.wait()
        # Created inside the unit, runs after it ended: its own implicit unit.
        await EngineItem.insert(EngineItem(name="from-task", writer=9))

    with pytest.raises(ZeroDivisionError):
        async with engine.write() as tx:
            await EngineItem.insert(EngineItem(name="dropped", writer=1))
            await tx.rollback()  # discards what the unit did so far; the unit goes on
            await EngineItem.insert(EngineItem(name="kept-by-commit", writer=2))
            async with engine.write() as nested:
                await EngineItem.insert(EngineItem(name="nested-dropped", writer=3))
                await nested.rollback()
                await EngineItem.insert(EngineItem(name="nested-kept", writer=4))
            await tx.commit()  # kept even though the unit fails below
            task = asyncio.create_task(later())
            await EngineItem.insert(EngineItem(name="lost", writer=5))
            1 / 0
    go.set()
    await asyncio.wait_for(task, timeout=5)
    assert await names() == {"kept-by-commit", "nested-kept", "from-task"}


async def test_transaction_atomic_rollback_and_ddl_go_through_the_writer(
    engine: ClarionSQLiteEngine,
) -> None:
    atomic = engine.atomic()
    atomic.add(
        EngineItem.insert(EngineItem(name="atomic-1", writer=1)),
        EngineItem.insert(EngineItem(name="atomic-2", writer=1)),
    )
    await atomic.run()
    assert await names() == {"atomic-1", "atomic-2"}

    failing = engine.atomic()
    failing.add(
        EngineItem.insert(EngineItem(name="atomic-3", writer=1)),
        EngineItem.insert(EngineItem(name="atomic-1", writer=1)),  # duplicate
    )
    with pytest.raises(sqlite3.IntegrityError):
        await failing.run()
    assert await names() == {"atomic-1", "atomic-2"}

    # Piccolo's AsyncTransactionTest pattern: enter, roll back, exit.
    transaction = engine.transaction()
    await transaction.__aenter__()
    await EngineItem.insert(EngineItem(name="rolled-back", writer=1))
    await transaction.rollback()
    await transaction.__aexit__(None, None, None)
    assert "rolled-back" not in await names()

    # An exception in the body rolls the unit back and reaches the caller.
    with pytest.raises(KeyError):
        async with engine.transaction():
            await EngineItem.delete(force=True)
            raise KeyError("boom")
    assert await EngineItem.count() == 2

    class EngineOther(Table, tablename="engine_other"):
        label = Varchar()

    EngineOther._meta._db = engine
    await EngineOther.create_table()
    assert await EngineOther.table_exists()
    await EngineOther.insert(EngineOther(label="x"))
    assert await EngineOther.count() == 1


# --- robustness: cancellation, loops, close --------------------------------------------------


async def test_cancelled_callers_never_wedge_the_writer(engine: ClarionSQLiteEngine) -> None:
    release = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with engine.write():
            await EngineItem.insert(EngineItem(name="first", writer=1))
            holding.set()
            await release.wait()

    async def waiter() -> None:
        async with engine.write():
            await EngineItem.insert(EngineItem(name="never", writer=2))

    first = asyncio.create_task(holder())
    await holding.wait()
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)  # queued on the writer

    # The holder leaves its batch open for the queued unit; cancel that unit
    # right after the writer was handed to it.
    lock = engine._lock
    assert lock is not None
    original_release = lock.release

    def release_then_cancel() -> None:
        original_release()
        lock.release = original_release  # type: ignore[method-assign]
        second.cancel()

    lock.release = release_then_cancel  # type: ignore[method-assign]
    release.set()
    await asyncio.wait_for(first, timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await names() == {"first"}

    # A caller cancelled inside its unit: rolled back, others unaffected.
    entered = asyncio.Event()

    async def slow() -> None:
        async with engine.write():
            await EngineItem.insert(EngineItem(name="cancelled", writer=3))
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(EngineItem.insert(EngineItem(name="after", writer=4)), timeout=5)
    assert await names() == {"first", "after"}


def test_engine_moves_to_a_new_loop_after_start(tmp_path: Path) -> None:
    engine = ClarionSQLiteEngine(str(tmp_path / "loops.sqlite"))
    EngineItem._meta._db = engine

    async def first_loop() -> None:
        await engine.start()
        await EngineItem.create_table()
        await EngineItem.insert(EngineItem(name="loop-1", writer=1))

    async def second_loop() -> int:
        await engine.start()  # rebinds: the first loop is gone
        await EngineItem.insert(EngineItem(name="loop-2", writer=2))
        return await EngineItem.count()

    async def third_loop_lazily() -> int:
        count = await EngineItem.count()
        await engine.close()
        return count

    asyncio.run(first_loop())
    assert asyncio.run(second_loop()) == 2
    assert asyncio.run(third_loop_lazily()) == 2
    assert not engine.started

    # A loop running in another thread may not steal the engine.
    ready, stop = threading.Event(), threading.Event()

    async def holder() -> None:
        await engine.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.01)
        await engine.close()

    thread = threading.Thread(target=asyncio.run, args=(holder(),))
    thread.start()
    try:
        assert ready.wait(10)

        async def intruder() -> None:
            with pytest.raises(RuntimeError, match="another running event loop"):
                await EngineItem.count()

        asyncio.run(intruder())
    finally:
        stop.set()
        thread.join(10)


async def test_close_commits_the_open_batch_and_is_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "close.sqlite")
    engine = ClarionSQLiteEngine(path, synchronous="normal", readers=1, max_batch=3)
    EngineItem._meta._db = engine
    await EngineItem.create_table()  # starts lazily
    assert engine.started

    async def unit(number: int) -> None:
        async with engine.write():
            await EngineItem.insert(EngineItem(name=f"c{number}", writer=number))

    await asyncio.gather(*(unit(number) for number in range(10)))
    assert engine.stats.largest_batch <= 3
    await engine.close()
    await engine.close()
    assert file_names(path) == {f"c{number}" for number in range(10)}
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
    with pytest.raises(ValueError):
        ClarionSQLiteEngine(":memory:")
    with pytest.raises(ValueError):
        ClarionSQLiteEngine(path, synchronous="SOMETIMES")
