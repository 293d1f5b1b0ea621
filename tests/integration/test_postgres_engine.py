"""ClarionPostgresEngine against the local PostgreSQL, in a throwaway database of its own."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from piccolo.columns import Integer, Varchar
from piccolo.table import Table

from clarion.db.postgres import ClarionPostgresEngine
from clarion_test_support import ENGINE, POSTGRES_URL

pytestmark = pytest.mark.skipif(ENGINE != "postgresql", reason="runs in the PostgreSQL pass")


class PgEngineItem(Table, tablename="pg_engine_item"):
    """A throwaway row; bound to the test's engine by the `engine` fixture."""

    name = Varchar(length=100, unique=True)
    writer = Integer()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
async def engine() -> AsyncIterator[ClarionPostgresEngine]:
    database = f"clarion_enginetest_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{database}"')
    dsn = POSTGRES_URL.rsplit("/", 1)[0] + "/" + database
    engine = ClarionPostgresEngine(config={"dsn": dsn}, pool_min_size=2, pool_max_size=20)
    previous = PgEngineItem._meta._db
    PgEngineItem._meta._db = engine
    try:
        await engine.start()
        await engine.start()  # idempotent
        await PgEngineItem.create_table()
        yield engine
    finally:
        await engine.close()
        await engine.close()
        PgEngineItem._meta._db = previous
        await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def test_concurrent_units_fail_independently(engine: ClarionPostgresEngine) -> None:
    await PgEngineItem.insert(PgEngineItem(name="taken", writer=0))

    async def unit(number: int) -> None:
        async with engine.write():
            await PgEngineItem.insert(PgEngineItem(name=f"ok-{number}-a", writer=number))
            await asyncio.sleep(0.01)  # overlap with the other units
            if number % 5 == 0:
                await PgEngineItem.insert(PgEngineItem(name="taken", writer=number))
            await PgEngineItem.insert(PgEngineItem(name=f"ok-{number}-b", writer=number))

    results = await asyncio.gather(*(unit(number) for number in range(40)), return_exceptions=True)

    failed = {number for number, result in enumerate(results) if result is not None}
    assert failed == {number for number in range(40) if number % 5 == 0}
    assert all(isinstance(results[number], asyncpg.UniqueViolationError) for number in failed), results
    rows = {row["name"] for row in await PgEngineItem.select(PgEngineItem.name)}
    assert rows == {"taken"} | {
        f"ok-{number}-{part}" for number in range(40) if number not in failed for part in "ab"
    }


async def test_nested_write_is_a_savepoint(engine: ClarionPostgresEngine) -> None:
    async with engine.write() as transaction:
        await PgEngineItem.insert(PgEngineItem(name="outer", writer=1))
        with pytest.raises(asyncpg.UniqueViolationError):
            async with engine.write() as nested:
                assert nested is transaction
                await PgEngineItem.insert(PgEngineItem(name="outer", writer=2))
        # The outer transaction is still usable after the nested failure.
        await PgEngineItem.insert(PgEngineItem(name="after-nested", writer=3))
        assert await PgEngineItem.count() == 2
    rows = await PgEngineItem.select(PgEngineItem.name, PgEngineItem.writer).order_by(PgEngineItem.name)
    assert rows == [{"name": "after-nested", "writer": 3}, {"name": "outer", "writer": 1}]

    with pytest.raises(RuntimeError):
        async with engine.write():
            await PgEngineItem.insert(PgEngineItem(name="rolled-back", writer=4))
            raise RuntimeError("boom")
    assert await PgEngineItem.count() == 2
