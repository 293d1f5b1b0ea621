"""`RowAppender` (the trigger's write path) on the engine under test: concurrent rows share a unit of
work, each caller returns only after its row is committed, a bad row fails only its own caller, and a
database that refuses writes fails every caller with the reason."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import pytest

from clarion.database import bind_tables
from clarion.db.engine import ClarionEngine, append_row, create_engine
from clarion.db.failures import FULL, storage_problem
from clarion.organizations.tables import Organization
from clarion.settings import DatabaseSettings
from clarion_test_support import ENGINE

INSERT = "INSERT INTO appended (id, name) VALUES ({}, {})"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[ClarionEngine]:
    engine = create_engine(DatabaseSettings(url=database_url))
    bind_tables(engine)
    await engine.start()
    async with engine.write():
        await engine.run_ddl("CREATE TABLE appended (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    try:
        yield engine
    finally:
        await engine.close()


async def _names() -> dict[int, str]:
    return {row["id"]: row["name"] for row in await Organization.raw("SELECT id, name FROM appended")}


async def test_concurrent_rows_are_committed_together(engine: ClarionEngine) -> None:
    units_before = engine.stats.units if ENGINE == "sqlite" else 0
    await asyncio.gather(*(append_row(INSERT, number, f"row-{number}") for number in range(200)))
    assert await _names() == {number: f"row-{number}" for number in range(200)}
    if ENGINE == "sqlite":
        # 200 callers, far fewer units of work: the first flush holds one row, the next all that queued
        assert engine.stats.units - units_before < 20


async def test_a_bad_row_fails_only_its_caller(engine: ClarionEngine) -> None:
    await append_row(INSERT, 1, "first")
    results = await asyncio.gather(
        *(append_row(INSERT, number, f"again-{number}") for number in (2, 1, 3)), return_exceptions=True
    )
    assert results[0] is None and results[2] is None
    duplicate = results[1]
    assert isinstance(duplicate, (sqlite3.IntegrityError, asyncpg.UniqueViolationError)), duplicate
    assert await _names() == {1: "first", 2: "again-2", 3: "again-3"}


async def test_a_database_that_refuses_writes_fails_every_caller(engine: ClarionEngine) -> None:
    if ENGINE == "sqlite":
        pages = await Organization.raw("PRAGMA page_count")
        await Organization.raw(f"PRAGMA max_page_count = {pages[0]['page_count']}")
        rows = [(number, "x" * 5000) for number in range(50)]
    else:
        async with engine.write():
            await engine.run_ddl(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'full' USING ERRCODE = '53100'; END $$"
            )
            await engine.run_ddl("CREATE TRIGGER refuse BEFORE INSERT ON appended FOR EACH ROW EXECUTE FUNCTION refuse()")
        rows = [(number, "x") for number in range(50)]
    results = await asyncio.gather(*(append_row(INSERT, *row) for row in rows), return_exceptions=True)
    assert all(isinstance(result, Exception) and storage_problem(result) == FULL for result in results), results
    assert await _names() == {}
