"""Units of work of the SQLite engine: the shared batch transaction, savepoints, leased read cursors."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import aiosqlite
from piccolo.engine.base import BaseTransaction, validate_savepoint_name
from piccolo.engine.exceptions import TransactionError
from piccolo.engine.sqlite import (
    AsyncBatch,
    Savepoint,
    TransactionType,
)

if TYPE_CHECKING:  # pragma: no cover
    from clarion.db.sqlite.engine import ClarionSQLiteEngine


class BatchNotCommittedError(sqlite3.OperationalError):
    """The batch holding this caller's unit was not committed: its writes are lost."""


@dataclass
class WriterStats:
    """Counters of the writer, for tests, benchmarks and metrics."""

    units: int = 0
    """Units of work finished (committed or rolled back), implicit ones included."""
    failed_units: int = 0
    """Units rolled back because their body raised."""
    commits: int = 0
    """Successful batch COMMITs (each one fsync with `synchronous=FULL`)."""
    failed_batches: int = 0
    """Batches lost to a failed COMMIT or a transaction SQLite aborted."""
    begin_retries: int = 0
    """`BEGIN IMMEDIATE` attempts that found the file locked by another process."""
    largest_batch: int = 0
    """Most units ever grouped into one transaction."""


# --- batches and transactions ---------------------------------------------------


class Batch:
    """One open `BEGIN IMMEDIATE` transaction shared by several units."""

    __slots__ = ("committed", "units")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.committed: asyncio.Future[None] = loop.create_future()
        # Nobody may be waiting when a batch fails (all callers cancelled):
        # mark the exception retrieved so asyncio does not log it.
        self.committed.add_done_callback(lambda future: future.cancelled() or future.exception())
        self.units = 0


class ClarionSQLiteTransaction(BaseTransaction):
    """A unit of work (or a nested scope of one); what `write()`/`transaction()` return.

    Used as an async context manager. The root scope holds the writer for its
    whole body and is what `engine.current_transaction` holds, so Piccolo runs
    queries on `.connection` (the writer). A scope entered inside an active
    unit is nested: it gets its own savepoint and joins the unit.

    `rollback()` discards what this scope did so far (the scope stays open);
    `commit()` keeps what it did so far even if the scope later raises.
    Durability still comes only when the root scope exits (group commit).
    """

    __slots__ = (
        "engine",
        "allow_nested",
        "transaction_type",
        "connection",
        "active",
        "_root",
        "_scope",
        "_batch",
        "_token",
        "_savepoint_ids",
        "_stack",
        "_committed",
        "_rolled_back",
        "_entered",
        "_single_statement",
    )

    def __init__(
        self,
        engine: ClarionSQLiteEngine,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
        _single_statement: bool = False,
    ) -> None:
        self.engine = engine
        # An implicit unit around ONE statement needs no savepoint: SQLite undoes
        # a failed statement by itself (statement journal).
        self._single_statement = _single_statement
        self._entered = False
        self.allow_nested = allow_nested
        self.transaction_type = transaction_type
        if not allow_nested and engine.transaction_exists():
            raise TransactionError("A transaction is already active - nested transactions aren't allowed.")
        self.connection: Optional[aiosqlite.Connection] = None
        self.active = False
        self._root: Optional[ClarionSQLiteTransaction] = None
        self._scope: Optional[str] = None
        self._batch: Optional[Batch] = None
        self._token: Any = None
        self._savepoint_ids = itertools.count(1)
        self._stack: list[str] = []
        self._committed = False
        self._rolled_back = False

    # -- context manager ---------------------------------------------------------

    async def __aenter__(self) -> ClarionSQLiteTransaction:
        if self._entered:
            raise TransactionError("this transaction object was already entered")
        self._entered = True
        parent = self.engine._active_transaction()
        if parent is not None:
            if not self.allow_nested:
                raise TransactionError(
                    "A transaction is already active - nested transactions aren't allowed."
                )
            await self._enter_nested(parent)
        else:
            await self._enter_root()
        return self

    async def __aexit__(self, exc_type, exc, traceback) -> bool:
        if self._root is not self:
            await self._exit_nested(ok=exc_type is None)
        else:
            await self._exit_root(ok=exc_type is None)
        return False

    async def _enter_root(self) -> None:
        engine = self.engine
        await engine._ensure_started()
        await engine._acquire_writer()
        name = None if self._single_statement else f"clarion_unit_{next(engine._unit_ids)}"
        opening = engine._track(engine._open_unit(name))
        try:
            self._batch = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The unit may still get opened in the background: undo it then.
            engine._spawn(engine._abandon_unit(opening, name))
            raise
        self._root = self
        self._scope = name
        self._stack = [name] if name else []
        self.connection = engine._writer
        self.active = True
        self._token = engine.current_transaction.set(self)

    async def _exit_root(self, ok: bool) -> None:
        engine = self.engine
        self.active = False
        try:
            engine.current_transaction.reset(self._token)
        except ValueError:  # exited in another context than entered
            engine.current_transaction.set(None)
        batch = self._batch
        self._stack = []
        finishing = engine._track(engine._finish_unit(batch, self._scope, ok))
        # Shielded: if this caller is cancelled the unit still finishes (and the
        # writer lock is released) in the background.
        await asyncio.shield(finishing)
        if ok and batch is not None:
            await engine._wait_for_commit(batch)

    async def _enter_nested(self, parent: ClarionSQLiteTransaction) -> None:
        root = parent._root or parent
        name = f"clarion_scope_{root.get_savepoint_id()}"
        await root._execute(f"SAVEPOINT {name}")
        root._stack.append(name)
        self._root = root
        self._scope = name
        self.connection = root.connection
        self.active = True

    async def _exit_nested(self, ok: bool) -> None:
        root, name = self._root, self._scope
        self.active = False
        assert root is not None and name is not None
        if not root.active or name not in root._stack:
            return  # already discarded by an enclosing rollback()/commit()
        del root._stack[root._stack.index(name) :]
        if not ok:
            await root._execute(f"ROLLBACK TO SAVEPOINT {name}")
        await root._execute(f"RELEASE SAVEPOINT {name}")

    # -- the API Piccolo and callers use on a transaction ------------------------

    async def _execute(self, sql: str) -> None:
        if self.connection is None or not self.active:
            raise TransactionError("the unit of work is not active")
        await self.connection.execute_fetchall(sql)

    def _require_scope(self) -> tuple[ClarionSQLiteTransaction, str]:
        root, name = self._root, self._scope
        if root is None or name is None or not self.active:
            raise TransactionError("the unit of work is not active")
        if name not in root._stack:
            raise TransactionError(f"scope {name} was discarded by an enclosing scope")
        return root, name

    async def commit(self) -> None:
        """Keep this scope's work so far, even if the scope later raises."""
        root, name = self._require_scope()
        del root._stack[root._stack.index(name) + 1 :]
        await root._execute(f"RELEASE SAVEPOINT {name}")
        await root._execute(f"SAVEPOINT {name}")
        self._committed = True

    async def rollback(self) -> None:
        """Discard this scope's work so far; the scope stays open."""
        root, name = self._require_scope()
        del root._stack[root._stack.index(name) + 1 :]
        await root._execute(f"ROLLBACK TO SAVEPOINT {name}")
        self._rolled_back = True

    def get_savepoint_id(self) -> int:
        root = self._root or self
        return next(root._savepoint_ids)

    async def savepoint(self, name: Optional[str] = None) -> Savepoint:
        """A user savepoint inside the unit (Piccolo's `Savepoint` API)."""
        name = name or f"savepoint_{self.get_savepoint_id()}"
        validate_savepoint_name(name)
        await (self._root or self)._execute(f"SAVEPOINT {name}")
        return Savepoint(name=name, transaction=self)  # type: ignore[arg-type]

    async def rollback_to(self, savepoint_name: str) -> None:
        await Savepoint(name=savepoint_name, transaction=self).rollback_to()  # type: ignore[arg-type]


@dataclass
class LeasedBatch(AsyncBatch):
    """Piccolo's cursor batch on a pooled connection, given back instead of closed."""

    release: Optional[Callable[[], None]] = field(default=None)

    async def __aenter__(self) -> LeasedBatch:
        template, args = self.query.querystrings[0].compile_string(engine_type="sqlite")
        try:
            self._cursor = await self.connection.execute(template, args)
        except BaseException:
            self._give_back()
            raise
        return self

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        try:
            await self.cursor.close()
        finally:
            self._give_back()
        return False

    def _give_back(self) -> None:
        release, self.release = self.release, None
        if release is not None:
            release()


