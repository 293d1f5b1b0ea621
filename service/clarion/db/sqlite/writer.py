"""The SQLite engine's writer: units of work queued on one connection, grouped into batch commits.

A mixin of `ClarionSQLiteEngine` (see the package docstring for the design);
it uses the engine's writer connection, lock, batch and task tracking.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Coroutine, Sequence
from typing import Any, Optional

from clarion.db.sql import compiled_sql
from clarion.db.sqlite.statements import is_busy, reject_transaction_control
from clarion.db.sqlite.transactions import Batch, BatchNotCommittedError

logger = logging.getLogger("clarion.db.sqlite.engine")

RETRY_FIRST_DELAY_S = 0.01
RETRY_MAX_DELAY_S = 1.0
"""Backoff of a `BEGIN` (or read) that found the file locked by another process past `busy_timeout`."""


class GroupCommitWriter:
    """Acquiring the writer, opening and finishing units, committing or aborting batches,
    many rows in one hop, and the engine's background tasks."""

    async def _acquire_writer(self) -> None:
        assert self._lock is not None
        self._waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._waiting -= 1
            self._flush_if_orphaned()
            raise
        self._waiting -= 1

    def _flush_if_orphaned(self) -> None:
        """A batch left open for a waiter that gave up must still be committed."""
        if (
            self._batch is not None
            and self._waiting == 0
            and self._lock is not None
            and not self._lock.locked()
        ):
            self._spawn(self._flush())

    async def _flush(self) -> None:
        await self._acquire_writer()
        assert self._lock is not None
        try:
            if self._batch is not None:
                await self._commit_batch()
        finally:
            self._lock.release()

    async def _control(self, *statements: str) -> None:
        """Run transaction-control statements on the writer, in ONE hop to its thread
        (each hop costs a thread switch both ways; a unit needs few of them)."""
        writer = self._writer
        assert writer is not None
        run_in_thread = getattr(writer, "_execute", None)  # aiosqlite's (private) hop
        if run_in_thread is None or len(statements) == 1:
            for statement in statements:
                await writer.execute_fetchall(statement)
            return

        def run_all() -> None:
            connection = writer._conn
            for statement in statements:
                connection.execute(statement)

        await run_in_thread(run_all)

    async def _open_unit(self, name: Optional[str]) -> Optional[Batch]:
        """With the writer lock held: join (or begin) the batch and open the unit's savepoint."""
        assert self._lock is not None and self._loop is not None
        savepoint = (f"SAVEPOINT {name}",) if name is not None else ()
        if self._batch is None:
            try:
                await self._begin(*savepoint)
            except BaseException:
                self._lock.release()
                raise
            self._batch = Batch(self._loop)
            self._batch.units += 1
            return self._batch
        batch = self._batch
        batch.units += 1
        # Savepoints of earlier successful units are released here, in the same hop.
        releases, self._pending_releases = self._pending_releases, []
        try:
            if releases or savepoint:
                await self._control(*releases, *savepoint)
        except BaseException:
            await self._finish_unit(batch, None, ok=False)
            raise
        return batch

    async def _abandon_unit(self, opening: asyncio.Task[Optional[Batch]], name: Optional[str]) -> None:
        """The caller was cancelled while its unit was being opened: roll it back."""
        try:
            batch = await opening
        except BaseException:
            return  # _open_unit cleaned up
        await self._finish_unit(batch, name, ok=False)

    async def _begin(self, *then: str) -> None:
        """`BEGIN IMMEDIATE` (then `then`, same hop), retried while another process writes."""
        assert self._writer is not None
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                await self._control("BEGIN IMMEDIATE", *then)
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or self._writer.in_transaction:
                    await self._rollback_quietly()
                    raise
                self.stats.begin_retries += 1
                logger.warning(
                    "SQLite %s still locked by another process after busy_timeout=%sms; "
                    "retrying BEGIN in %.2fs",
                    self.path,
                    self.busy_timeout_ms,
                    delay,
                )
            except BaseException:
                await self._rollback_quietly()
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)

    async def _finish_unit(self, batch: Optional[Batch], name: Optional[str], ok: bool) -> None:
        """With the writer lock held: end a unit, then commit or leave the batch open."""
        assert self._lock is not None and self._writer is not None
        try:
            self.stats.units += 1
            if not ok:
                self.stats.failed_units += 1
            current = batch is not None and batch is self._batch
            # Group commit: keep the batch open while units are queued for it.
            commit_now = current and (self._waiting == 0 or batch.units >= self.max_batch)
            broken: Optional[BaseException] = None
            if name is not None:
                if ok:
                    # Released by the next unit's first hop, or by the COMMIT.
                    self._pending_releases.append(f"RELEASE SAVEPOINT {name}")
                else:
                    try:
                        await self._control(f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}")
                    except Exception as exc:
                        broken = exc
            if current:
                if broken is None and not self._writer.in_transaction:
                    broken = sqlite3.OperationalError(
                        "SQLite rolled back the batch transaction (a unit hit a fatal error)"
                    )
                if broken is not None:
                    await self._abort_batch(broken)
                elif commit_now:
                    await self._commit_batch()
        finally:
            self._lock.release()

    async def _commit_batch(self) -> None:
        batch, self._batch = self._batch, None
        self._pending_releases = []  # COMMIT releases every savepoint
        assert batch is not None and self._writer is not None
        try:
            await self._control("COMMIT")
        except Exception as exc:
            self.stats.failed_batches += 1
            logger.error("SQLite COMMIT of %d units failed: %s", batch.units, exc)
            await self._rollback_quietly()
            batch.committed.set_exception(exc)
            return
        self.stats.commits += 1
        self.stats.largest_batch = max(self.stats.largest_batch, batch.units)
        batch.committed.set_result(None)

    async def _abort_batch(self, reason: BaseException) -> None:
        batch, self._batch = self._batch, None
        self._pending_releases = []
        self.stats.failed_batches += 1
        logger.error("SQLite batch aborted: %s", reason)
        await self._rollback_quietly()
        if batch is not None and not batch.committed.done():
            batch.committed.set_exception(reason)

    async def _rollback_quietly(self) -> None:
        assert self._writer is not None
        try:
            if self._writer.in_transaction:
                await self._control("ROLLBACK")
        except Exception:  # the connection itself may be broken
            logger.exception("SQLite ROLLBACK failed")

    async def _wait_for_commit(self, batch: Batch) -> None:
        try:
            await asyncio.shield(batch.committed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise BatchNotCommittedError(f"the write was not committed: {type(exc).__name__}: {exc}") from exc

    async def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """`statement` (Piccolo's `{}` placeholders) once per row, in ONE hop; inside a unit of work."""
        transaction = self._active_transaction()
        if transaction is None or transaction.connection is None:
            raise RuntimeError("executemany runs inside a unit of work (engine.write())")
        reject_transaction_control(statement)
        await transaction.connection.executemany(compiled_sql(statement, "?"), rows)

    # -- tasks of the engine's loop that close() waits for

    def _track(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task of the engine's loop that `close()` waits for (its caller awaits it
        shielded, and may have been cancelled meanwhile)."""
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._untrack)
        return task

    def _untrack(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the awaiting caller (if any) re-raises it

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Fire and forget (tracked); a failure is logged."""
        self._track(coroutine).add_done_callback(self._log_failure)

    @staticmethod
    def _log_failure(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("ClarionSQLiteEngine background task failed", exc_info=task.exception())
