"""Clarion's PostgreSQL engine: Piccolo's `PostgresEngine` with the unit-of-work API.

It exposes the same surface as `ClarionSQLiteEngine` so services never care
which engine they run on:

* `await engine.start()` / `await engine.close()`: open / close the asyncpg pool
  (idempotent; both must run in the same event loop, the one that uses the pool).
* `async with engine.write() as tx:` a unit of work. At top level it is a plain
  transaction on its own pooled connection (each unit independent: a unique
  violation in one never aborts another caller's); it returns after COMMIT.
  Entered inside an active transaction it is a nested scope with its own
  SAVEPOINT, rolled back alone if its body raises (as on SQLite), so catching an
  error of a nested `write()` leaves the outer transaction usable.
* `engine.transaction()` / `engine.atomic()`: Piccolo's own (nested
  `transaction()` joins the outer one, as stock Piccolo does).

Group commit is PostgreSQL's job here (`commit_delay` if wanted); concurrency
comes from the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from piccolo.engine.postgres import PostgresEngine, PostgresTransaction, Savepoint

from clarion.db.appender import RowAppender
from clarion.db.sql import compiled_sql

__all__ = ["ClarionPostgresEngine"]


class _SavepointScope:
    """A nested unit of work: a SAVEPOINT in the active transaction."""

    __slots__ = ("_transaction", "_savepoint")

    def __init__(self, transaction: PostgresTransaction) -> None:
        self._transaction = transaction
        self._savepoint: Optional[Savepoint] = None

    async def __aenter__(self) -> PostgresTransaction:
        self._savepoint = await self._transaction.savepoint()
        return self._transaction

    async def __aexit__(self, exc_type, exc, traceback) -> bool:
        assert self._savepoint is not None
        if exc_type is not None:
            await self._savepoint.rollback_to()
        await self._savepoint.release()
        return False


class ClarionPostgresEngine(PostgresEngine):
    """Piccolo `PostgresEngine` plus `start()`/`close()` for the pool and `write()`."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        extensions: Sequence[str] = (),
        log_queries: bool = False,
        log_responses: bool = False,
        extra_nodes: Optional[Mapping[str, PostgresEngine]] = None,
    ) -> None:
        if pool_min_size < 0 or pool_max_size < 1 or pool_min_size > pool_max_size:
            raise ValueError("need 0 <= pool_min_size <= pool_max_size and pool_max_size >= 1")
        self.pool_min_size = pool_min_size
        self.pool_max_size = pool_max_size
        self._pool_loop: Optional[asyncio.AbstractEventLoop] = None
        self.appender = RowAppender(self.write, self.executemany)
        """`await engine.appender.append(statement, args)`: an INSERT committed in a shared batch."""
        super().__init__(
            config=config,
            extensions=extensions,
            log_queries=log_queries,
            log_responses=log_responses,
            extra_nodes=extra_nodes,
        )

    @property
    def started(self) -> bool:
        return self.pool is not None

    async def start(self) -> None:
        """Open the connection pool in the running loop (no-op if already open there)."""
        loop = asyncio.get_running_loop()
        if self.pool is not None:
            if self._pool_loop is loop:
                return
            raise RuntimeError(
                "ClarionPostgresEngine's pool belongs to another event loop: close() it there first"
            )
        await self.start_connection_pool(min_size=self.pool_min_size, max_size=self.pool_max_size)
        self._pool_loop = loop

    async def close(self) -> None:
        """Close the pool, waiting for connections in use to be released (no-op if closed)."""
        if self.pool is None:
            return
        await self.appender.drain()
        await self.close_connection_pool()
        self._pool_loop = None

    async def fetch(self, statement: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        """Run hand-written SQL (Piccolo's `{}` placeholders) without building a Piccolo query:
        in the unit of work when there is one, else on a pooled connection."""
        query = compiled_sql(statement, "$")
        transaction = self.current_transaction.get()
        if transaction is not None:
            records = await transaction.connection.fetch(query, *args)
        else:
            records = await self._run_in_pool(query, args)
        return [dict(record.items()) for record in records]

    async def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """`statement` (Piccolo's `{}` placeholders) once per row, pipelined; inside a unit of work."""
        transaction = self.current_transaction.get()
        if transaction is None:
            raise RuntimeError("executemany runs inside a unit of work (engine.write())")
        await transaction.connection.executemany(compiled_sql(statement, "$"), rows)

    def write(self) -> PostgresTransaction | _SavepointScope:
        """A unit of work: a transaction, or a savepoint scope inside an active one."""
        current = self.current_transaction.get()
        if current is not None:
            return _SavepointScope(current)
        return self.transaction()
