"""Rows that many callers insert at the same time, committed together: the trigger's write path.

`await appender.append(statement, args)` queues one row and returns once the COMMIT that
holds it has succeeded: the durability of a unit of work (`engine.write()`), at a fraction
of its cost under load. The rows waiting when a flush starts go to the database as ONE
unit of work with one `executemany` per statement. On SQLite that is a few hops to the
writer thread and one fsync for the whole batch, however many callers it holds; on
PostgreSQL one transaction with pipelined inserts. While a flush runs, new rows wait for
the next one, so batches grow with the load and a lone caller waits for nothing.

A batch that fails because the database cannot take writes (full, read-only, gone) fails
every caller in it with that error. Any other failure is retried one row per unit, so a
row at fault fails only its own caller.

A caller cancelled while it waits does not take its row back: it is committed (or not)
with its batch, as a request whose client went away after sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from clarion.db.failures import storage_problem

UnitOfWork = Callable[[], contextlib.AbstractAsyncContextManager[Any]]
ExecuteMany = Callable[[str, Sequence[Sequence[Any]]], Awaitable[None]]

_Row = tuple[str, tuple[Any, ...], "asyncio.Future[None]"]


class RowAppender:
    """Batches `INSERT`s of concurrent callers into shared units of work on one engine."""

    def __init__(self, unit_of_work: UnitOfWork, execute_many: ExecuteMany, *, max_batch: int = 512) -> None:
        self._unit_of_work = unit_of_work
        self._execute_many = execute_many
        self.max_batch = max_batch
        self._rows: list[_Row] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, statement: str, args: Sequence[Any]) -> None:
        """Insert one row (`statement` with Piccolo's `{}` placeholders); returns after its COMMIT."""
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()
        self._rows.append((statement, tuple(args), committed))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_all(), name="clarion-row-appender")
        await committed

    async def drain(self) -> None:
        """Wait until every row queued so far has been flushed (before the engine closes)."""
        flusher = self._flusher
        while flusher is not None and not flusher.done() and flusher.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(flusher)
            flusher = self._flusher

    async def _flush_all(self) -> None:
        rows: list[_Row] = []
        try:
            while self._rows:
                rows, self._rows = self._rows[: self.max_batch], self._rows[self.max_batch :]
                await self._flush(rows)
        except BaseException as exc:  # cancelled: nobody may wait forever
            waiting, self._rows = rows + self._rows, []
            for row in waiting:
                _settle(row, RuntimeError(f"the write was not committed: {type(exc).__name__}"))
            raise

    async def _flush(self, rows: list[_Row]) -> None:
        try:
            await self._insert(rows)
        except Exception as exc:
            if len(rows) == 1 or storage_problem(exc) is not None:
                for row in rows:
                    _settle(row, exc)
                return
            for row in rows:  # find the row at fault: one unit each
                try:
                    await self._insert([row])
                except Exception as row_exc:
                    _settle(row, row_exc)
                else:
                    _settle(row, None)
            return
        for row in rows:
            _settle(row, None)

    async def _insert(self, rows: list[_Row]) -> None:
        by_statement: defaultdict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for statement, args, _ in rows:
            by_statement[statement].append(args)
        async with self._unit_of_work():
            for statement, args_list in by_statement.items():
                await self._execute_many(statement, args_list)


def _settle(row: _Row, exc: BaseException | None) -> None:
    committed = row[2]
    if committed.done():  # the caller was cancelled
        return
    if exc is None:
        committed.set_result(None)
    else:
        committed.set_exception(exc)
