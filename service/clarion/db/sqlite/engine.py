"""The SQLite engine itself: see the package docstring for its design and constraints."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Optional

import aiosqlite
from piccolo.engine.sqlite import (
    SQLiteEngine,
    TransactionType,
    dict_factory,
)
from piccolo.querystring import QueryString

from clarion.db.appender import RowAppender
from clarion.db.sql import compiled_sql
from clarion.db.sqlite.statements import is_busy, is_read_only_refusal, is_read_only_sql, reject_transaction_control
from clarion.db.sqlite.transactions import (
    Batch,
    ClarionSQLiteTransaction,
    LeasedBatch,
    WriterStats,
)
from clarion.db.sqlite.writer import RETRY_FIRST_DELAY_S, RETRY_MAX_DELAY_S, GroupCommitWriter

if TYPE_CHECKING:  # pragma: no cover
    from piccolo.query.base import Query
    from piccolo.table import Table

logger = logging.getLogger(__name__)

_SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_CLOSE_READERS_TIMEOUT_S = 10.0


# --- the engine -----------------------------------------------------------------


class ClarionSQLiteEngine(GroupCommitWriter, SQLiteEngine):
    """Piccolo SQLite engine with one writer, group commit and pooled readers.

    ::

        engine = ClarionSQLiteEngine("var/clarion.db")
        MyTable._meta._db = engine
        await engine.start()
        async with engine.write():
            await MyTable.insert(MyTable(name="x"))
        # committed and fsynced here
        rows = await MyTable.select()  # a reader
        await engine.close()

    See the module docstring for the design and the constraints.
    """

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 30000,
        max_batch: int = 256,
        readers: int = 4,
        log_queries: bool = False,
        log_responses: bool = False,
    ) -> None:
        path = str(path)
        if path == ":memory:" or path.startswith("file::memory:") or "mode=memory" in path:
            raise ValueError("ClarionSQLiteEngine needs a database file, not :memory:")
        synchronous = synchronous.upper()
        if synchronous not in _SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS_MODES)}")
        if busy_timeout_ms < 0 or max_batch < 1 or readers < 1:
            raise ValueError("busy_timeout_ms >= 0, max_batch >= 1 and readers >= 1")
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.max_batch = max_batch
        self.readers = readers
        self.stats = WriterStats()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._starting: Optional[asyncio.Task[None]] = None
        self._closing = False
        self._writer: Optional[aiosqlite.Connection] = None
        self._reader_connections: list[aiosqlite.Connection] = []
        self._idle_readers: Optional[asyncio.Queue[aiosqlite.Connection]] = None
        self._lock: Optional[asyncio.Lock] = None
        self._waiting = 0
        self._batch: Optional[Batch] = None
        self._pending_releases: list[str] = []
        self._unit_ids = itertools.count(1)
        self._background: set[asyncio.Task[Any]] = set()
        self.appender = RowAppender(self.write, self.executemany)
        """`await engine.appender.append(statement, args)`: an INSERT committed in a shared batch."""
        super().__init__(
            path=path,
            log_queries=log_queries,
            log_responses=log_responses,
            timeout=busy_timeout_ms / 1000,
        )

    # -- lifecycle ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether connections are open (in the loop that started them)."""
        return self._writer is not None

    async def start(self) -> None:
        """Open the writer and the readers, binding the engine to the running loop.

        Idempotent in one loop. In a new loop it first closes connections
        opened in a previous loop, which must no longer be running.
        """
        loop = asyncio.get_running_loop()
        if self._closing:
            raise RuntimeError("ClarionSQLiteEngine is closing")
        if self._loop is loop and self._writer is not None:
            return
        if self._start_in_progress():
            assert self._starting is not None
            if self._starting.get_loop() is not loop:
                raise RuntimeError("ClarionSQLiteEngine is being started in another event loop")
            await asyncio.shield(self._starting)
            return
        if self._loop is not None and self._loop is not loop and self._loop.is_running():
            raise RuntimeError(
                "ClarionSQLiteEngine is in use by another running event loop; close it there first"
            )
        self._starting = loop.create_task(self._open_connections(loop))
        await asyncio.shield(self._starting)

    async def close(self) -> None:
        """Commit any open batch, wait for readers in use, close every connection."""
        if self._writer is None and not self._reader_connections:
            return
        if self._start_in_progress():
            assert self._starting is not None
            await asyncio.shield(self._starting)
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop and self._loop.is_running():
            raise RuntimeError("ClarionSQLiteEngine is in use by another running event loop")
        await self.appender.drain()
        self._closing = True
        try:
            if self._loop is loop and self._lock is not None:
                await self._acquire_writer()
                try:
                    if self._batch is not None:
                        await self._commit_batch()
                finally:
                    self._lock.release()
                await self._wait_for_readers(timeout=_CLOSE_READERS_TIMEOUT_S)
                while self._background:
                    await asyncio.gather(*self._background, return_exceptions=True)
            await self._close_connections()
        finally:
            self._closing = False

    def _start_in_progress(self) -> bool:
        starting = self._starting
        return starting is not None and not starting.done() and not starting.get_loop().is_closed()

    async def _wait_for_readers(self, timeout: float) -> None:
        """Take every reader back (reads in flight finish first), within `timeout`."""
        idle = self._idle_readers
        if idle is None:
            return
        try:
            async with asyncio.timeout(timeout):
                for _ in self._reader_connections:
                    await idle.get()
        except TimeoutError:
            logger.warning(
                "closing SQLite readers still in use after %.0fs (a batch() never exited?)", timeout
            )

    async def _open_connections(self, loop: asyncio.AbstractEventLoop) -> None:
        # Connections of a previous loop (no longer running) are closed first.
        await self._close_connections()
        writer: Optional[aiosqlite.Connection] = None
        readers: list[aiosqlite.Connection] = []
        try:
            writer = await self._connect()
            await self._retry_busy(self._configure_writer, writer)
            for _ in range(self.readers):
                reader = await self._connect()
                readers.append(reader)
                await reader.execute_fetchall("PRAGMA query_only = 1")
        except BaseException:
            for connection in (writer, *readers):
                if connection is not None:
                    await connection.close()
            raise
        self._loop = loop
        self._writer = writer
        self._reader_connections = readers
        self._idle_readers = asyncio.Queue()
        for reader in readers:
            self._idle_readers.put_nowait(reader)
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._batch = None
        self._pending_releases = []

    async def _connect(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(**self.connection_kwargs)
        # aiosqlite's worker thread is non-daemon: a process that never closed
        # the engine would hang at exit. Unclosed connections still warn.
        thread = getattr(connection, "_thread", None)
        if isinstance(thread, threading.Thread) and not thread.is_alive():
            thread.daemon = True
        await connection
        try:
            connection.row_factory = dict_factory  # type: ignore[assignment]
            await connection.execute_fetchall(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            await connection.execute_fetchall("PRAGMA foreign_keys = ON")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _configure_writer(self, writer: aiosqlite.Connection) -> None:
        rows = await writer.execute_fetchall("PRAGMA journal_mode = WAL")
        mode = next(iter(rows[0].values())) if rows else None
        if str(mode).lower() != "wal":
            raise RuntimeError(f"could not switch {self.path} to WAL (journal_mode={mode})")
        await writer.execute_fetchall(f"PRAGMA synchronous = {self.synchronous}")

    async def _close_connections(self) -> None:
        connections = [c for c in (self._writer, *self._reader_connections) if c is not None]
        self._writer = None
        self._reader_connections = []
        self._idle_readers = None
        self._lock = None
        self._batch = None
        self._pending_releases = []
        self._waiting = 0
        self._loop = None
        self._background = set()
        for connection in connections:
            await connection.close()

    async def _ensure_started(self) -> None:
        if self._closing:
            raise RuntimeError("ClarionSQLiteEngine is closing")
        if self._writer is not None and self._loop is asyncio.get_running_loop():
            return
        await self.start()

    # -- readers -----------------------------------------------------------------

    async def _retry_busy(self, operation: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return await operation(*args)
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                logger.warning("SQLite %s busy (%s); retrying in %.2fs", self.path, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)

    async def _read(self, query: str, args: list[Any]) -> list[dict[str, Any]]:
        """Run a read-only statement on a pooled reader."""
        await self._ensure_started()
        assert self._idle_readers is not None
        idle = self._idle_readers
        reader = await idle.get()
        try:
            return list(await self._retry_busy(reader.execute_fetchall, query, args))
        finally:
            idle.put_nowait(reader)

    # -- Piccolo's Engine API ----------------------------------------------------

    def _active_transaction(self) -> Optional[ClarionSQLiteTransaction]:
        transaction = self.current_transaction.get()
        if isinstance(transaction, ClarionSQLiteTransaction) and transaction.active:
            return transaction
        return None

    def transaction_exists(self) -> bool:
        return self._active_transaction() is not None

    def write(self) -> ClarionSQLiteTransaction:
        """A unit of work: `async with engine.write() as tx:` (nested: a savepoint scope)."""
        return ClarionSQLiteTransaction(engine=self)

    def transaction(  # type: ignore[override]
        self,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
    ) -> ClarionSQLiteTransaction:
        """Piccolo's transaction API, routed to a unit of work (`transaction_type` is moot:
        batches always begin IMMEDIATE)."""
        return ClarionSQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    async def _run_in_existing_connection(
        self,
        connection: aiosqlite.Connection,
        query: str,
        args: Optional[list[Any]] = None,
        query_type: str = "generic",
        table: Optional[type[Table]] = None,
    ) -> list[dict[str, Any]]:
        if query_type == "insert" and self.get_version_sync() < 3.35:
            return await super()._run_in_existing_connection(
                connection, query, args, query_type=query_type, table=table
            )
        # One hop to the connection's thread; foreign_keys is set per connection.
        return list(await connection.execute_fetchall(query, args or []))

    async def _run_statement(
        self, query: str, args: list[Any], query_type: str, table: Any, *, writer_only: bool = False
    ) -> Any:
        """On the unit's writer inside a unit; outside, reads on a reader, the rest as an
        implicit single-statement unit (group-committed like any other)."""
        transaction = self._active_transaction()
        if transaction is None and not writer_only and is_read_only_sql(query):
            try:
                return await self._read(query, args)
            except sqlite3.OperationalError as exc:
                if not is_read_only_refusal(exc):
                    raise
                # Misjudged as a read; the reader refused before changing anything.
        reject_transaction_control(query)
        if transaction is not None:
            assert transaction.connection is not None
            return await self._run_in_existing_connection(
                transaction.connection, query, args, query_type=query_type, table=table
            )
        async with ClarionSQLiteTransaction(self, _single_statement=True) as unit:
            assert unit.connection is not None
            return await self._run_in_existing_connection(
                unit.connection, query, args, query_type=query_type, table=table
            )

    async def fetch(self, statement: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        """Run hand-written SQL (Piccolo's `{}` placeholders) without building a Piccolo query:
        reads on a reader, writes on the unit's writer (or as an implicit unit)."""
        return await self._run_statement(compiled_sql(statement, "?"), list(args), "generic", None)  # type: ignore[no-any-return]

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False) -> Any:
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=querystring.__str__())
        query, query_args = querystring.compile_string(engine_type=self.engine_type)
        response = await self._run_statement(query, query_args, querystring.query_type, querystring.table)
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    async def run_ddl(self, ddl: str, in_pool: bool = False) -> Any:
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=ddl)
        response = await self._run_statement(ddl, [], "generic", None, writer_only=True)
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    async def batch(  # type: ignore[override]
        self, query: Query, batch_size: int = 100, node: Optional[str] = None
    ) -> LeasedBatch:
        """Piccolo's `.batch()`: on the writer inside a unit, else on a leased reader."""
        transaction = self._active_transaction()
        if transaction is not None:
            return LeasedBatch(connection=transaction.connection, query=query, batch_size=batch_size)
        await self._ensure_started()
        assert self._idle_readers is not None
        idle = self._idle_readers
        reader = await idle.get()
        return LeasedBatch(
            connection=reader,
            query=query,
            batch_size=batch_size,
            release=lambda: idle.put_nowait(reader),
        )
