"""Clarion's SQLite engine for Piccolo: one long-lived writer, group commit, pooled readers.

Stock `piccolo.engine.sqlite.SQLiteEngine` opens a new connection per query and
lets every writer race for the database lock, so concurrent writers see
"database is locked" and each insert pays for its own connection and fsync.
`ClarionSQLiteEngine` instead keeps

* ONE writer connection (WAL, `synchronous=FULL` by default, `busy_timeout`,
  `foreign_keys=ON`). Every write runs inside a *unit of work*
  (`async with engine.write():`). Units are serialised by an `asyncio.Lock`;
  each runs inside a `SAVEPOINT` of a batch transaction opened with
  `BEGIN IMMEDIATE`. A unit whose body raises is rolled back to its savepoint
  (the others in the batch are untouched) and the exception reaches that caller
  only. While more units are queued and the batch holds fewer than `max_batch`
  units the transaction stays open for the next unit; otherwise it is committed:
  one COMMIT (one fsync) for many units. `write()` returns to its caller only
  after the COMMIT containing its unit succeeded, so anything acknowledged
  afterwards is durable. If that COMMIT fails, every unit of the batch gets a
  `BatchNotCommittedError`.
* a small pool of reader connections (`PRAGMA query_only=1`). Outside a unit,
  read-only statements (SELECT/VALUES/EXPLAIN, WITH without DML, introspection
  PRAGMAs) run there; in WAL mode readers never block the writer nor wait for
  it. Any other statement outside a unit runs as its own implicit unit, so it is
  group-committed too.

Piccolo integration: inside a unit, `engine.current_transaction` holds a
`ClarionSQLiteTransaction` whose `.connection` is the writer, so every Piccolo
query (`insert`, `update`, `select`, `objects()`, `raw`, DDL) takes Piccolo's
`_run_in_existing_connection` path. `engine.transaction()` and
`engine.atomic()` (used by Piccolo's migrations, M2M and fixtures) open units
too; a `write()`/`transaction()` entered inside a unit is a nested scope with its
own savepoint (rolled back alone if it raises).

Cross-process: another process with its own engine on the same file queues on
SQLite's write lock (`BEGIN IMMEDIATE` + `busy_timeout`); a BEGIN that still
reports "database is locked" after `busy_timeout` is retried with backoff, and
busy reads are retried too, so "database is locked" never reaches a caller.

Constraints (read before use):

* Event loops: the engine is bound to the loop that ran `start()` (or, lazily,
  the first query). It may be created anywhere (even with no loop running).
  It moves to a *different* loop on `await engine.start()` there (or lazily on
  the first query there) once the old loop is no longer running: the old
  connections are closed and new ones opened (pytest's loop-per-test works).
  Using it from two running loops at once raises `RuntimeError`. Piccolo's `run_sync()`
  inside a running loop runs in another thread's loop and therefore raises:
  await queries instead.
* Always `await engine.close()` (it commits any open batch and closes every
  connection). The aiosqlite worker threads are made daemon threads so a
  process that forgets to close still exits, but unclosed connections emit
  `ResourceWarning`.
* Keep units short and free of non-database awaits: a unit holds the only
  writer, and the callers of a batch are acknowledged together, after the last
  unit grouped into it. Inside a unit never wait for another task that writes outside the
  unit (it queues behind you: deadlock). Tasks created inside a unit inherit it
  (they share its savepoint) while it is open; after the unit ends they
  write through their own implicit units.
* Statements SQLite refuses inside a transaction (`VACUUM`, changing
  `journal_mode`) fail; `BEGIN`/`COMMIT`/`END`/`ROLLBACK` issued as raw SQL are
  rejected with `TransactionError` (use `write()`, `tx.savepoint()`,
  `tx.rollback()`).
* A batch is one transaction: a violation SQLite only detects at COMMIT (a
  `DEFERRABLE INITIALLY DEFERRED` foreign key) fails every unit of that batch
  with `BatchNotCommittedError`. Piccolo's foreign keys are immediate.
* A caller cancelled inside `write()` has its unit rolled back. A single
  statement run outside any unit (an implicit unit) that is cancelled while
  SQLite executes it may still be committed, as with any database client.
* `":memory:"` databases are refused: readers and writer must share one file.
* Control statements of a unit are sent to the writer's thread in one hop
  using aiosqlite's `Connection._execute` (private; if it ever disappears the
  engine falls back to one hop per statement).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import aiosqlite
from piccolo.engine.base import BaseTransaction, validate_savepoint_name
from piccolo.engine.exceptions import TransactionError
from piccolo.engine.sqlite import (
    AsyncBatch,
    Savepoint,
    SQLiteEngine,
    TransactionType,
    dict_factory,
)
from piccolo.querystring import QueryString

if TYPE_CHECKING:  # pragma: no cover
    from piccolo.query.base import Query
    from piccolo.table import Table

__all__ = [
    "BatchNotCommittedError",
    "ClarionSQLiteEngine",
    "ClarionSQLiteTransaction",
    "WriterStats",
    "is_read_only_sql",
]

logger = logging.getLogger(__name__)

_SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_RETRY_FIRST_DELAY_S = 0.01
_RETRY_MAX_DELAY_S = 1.0
_CLOSE_READERS_TIMEOUT_S = 10.0


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


# --- statement classification -------------------------------------------------

_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z)|\()*", re.S)
_KEYWORD = re.compile(r"[A-Za-z_]+")
_DML_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE|UPSERT)\b", re.I)
_PRAGMA = re.compile(r"\s*(?:\w+\s*\.\s*)?(?P<name>\w+)\s*(?P<arg>\([^()]*\))?\s*;?\s*\Z", re.S)
_ROLLBACK_TO = re.compile(r"\s*(?:TRANSACTION\s+)?TO\b", re.I)
# Introspection pragmas that take an object name and never change anything.
_READ_PRAGMAS_WITH_ARG = frozenset(
    {
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
# Pragmas that only report a value when given no argument.
_READ_PRAGMAS_BARE = _READ_PRAGMAS_WITH_ARG | frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "schema_version",
        "table_list",
        "user_version",
    }
)


def _split_keyword(sql: str) -> tuple[str, str]:
    """The statement's first keyword (upper case) and the text after it."""
    start = _LEADING_NOISE.match(sql)
    position = start.end() if start else 0
    keyword = _KEYWORD.match(sql, position)
    if keyword is None:
        return "", sql[position:]
    return keyword.group().upper(), sql[keyword.end() :]


def is_read_only_sql(sql: str) -> bool:
    """Whether `sql` certainly only reads, so it may run on a `query_only` reader.

    Conservative: anything doubtful counts as a write and goes to the writer.
    (A misjudged write is harmless too: readers refuse it and it is re-run on
    the writer.)
    """
    keyword, rest = _split_keyword(sql)
    if keyword in ("SELECT", "VALUES", "EXPLAIN"):
        return True
    if keyword == "WITH":
        return _DML_WORD.search(rest) is None
    if keyword == "PRAGMA":
        pragma = _PRAGMA.match(rest)
        if pragma is None:
            return False
        name = pragma.group("name").lower()
        if pragma.group("arg") is None:
            return name in _READ_PRAGMAS_BARE
        return name in _READ_PRAGMAS_WITH_ARG
    return False


def _reject_transaction_control(sql: str) -> None:
    """Raw BEGIN/COMMIT/END/ROLLBACK would break the shared batch transaction."""
    keyword, rest = _split_keyword(sql)
    if keyword in ("BEGIN", "COMMIT", "END") or (keyword == "ROLLBACK" and not _ROLLBACK_TO.match(rest)):
        raise TransactionError(
            f"{keyword} is managed by ClarionSQLiteEngine: use `async with "
            "engine.write()`, `tx.savepoint()` or `tx.rollback()` instead"
        )


def _sqlite_code(exc: BaseException) -> Optional[int]:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _sqlite_code(exc)
    if code is not None:
        return code in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def _is_read_only_refusal(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _sqlite_code(exc)
    if code is not None:
        return code == _SQLITE_READONLY
    return "readonly database" in str(exc)


# --- batches and transactions ---------------------------------------------------


class _Batch:
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
        self._batch: Optional[_Batch] = None
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
class _LeasedBatch(AsyncBatch):
    """Piccolo's cursor batch on a pooled connection, given back instead of closed."""

    release: Optional[Callable[[], None]] = field(default=None)

    async def __aenter__(self) -> _LeasedBatch:
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


# --- the engine -----------------------------------------------------------------


class ClarionSQLiteEngine(SQLiteEngine):
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
        self._batch: Optional[_Batch] = None
        self._pending_releases: list[str] = []
        self._unit_ids = itertools.count(1)
        self._background: set[asyncio.Task[Any]] = set()
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

    # -- the writer: units, batches, group commit ----------------------------------

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

    async def _open_unit(self, name: Optional[str]) -> Optional[_Batch]:
        """With the writer lock held: join (or begin) the batch and open the unit's savepoint."""
        assert self._lock is not None and self._loop is not None
        savepoint = (f"SAVEPOINT {name}",) if name is not None else ()
        if self._batch is None:
            try:
                await self._begin(*savepoint)
            except BaseException:
                self._lock.release()
                raise
            self._batch = _Batch(self._loop)
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

    async def _abandon_unit(self, opening: asyncio.Task[Optional[_Batch]], name: Optional[str]) -> None:
        """The caller was cancelled while its unit was being opened: roll it back."""
        try:
            batch = await opening
        except BaseException:
            return  # _open_unit cleaned up
        await self._finish_unit(batch, name, ok=False)

    async def _begin(self, *then: str) -> None:
        """`BEGIN IMMEDIATE` (then `then`, same hop), retried while another process writes."""
        assert self._writer is not None
        delay = _RETRY_FIRST_DELAY_S
        while True:
            try:
                await self._control("BEGIN IMMEDIATE", *then)
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or self._writer.in_transaction:
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
            delay = min(delay * 2, _RETRY_MAX_DELAY_S)

    async def _finish_unit(self, batch: Optional[_Batch], name: Optional[str], ok: bool) -> None:
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

    async def _wait_for_commit(self, batch: _Batch) -> None:
        try:
            await asyncio.shield(batch.committed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise BatchNotCommittedError(f"the write was not committed: {type(exc).__name__}: {exc}") from exc

    # -- readers -----------------------------------------------------------------

    async def _retry_busy(self, operation: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        delay = _RETRY_FIRST_DELAY_S
        while True:
            try:
                return await operation(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                logger.warning("SQLite %s busy (%s); retrying in %.2fs", self.path, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_DELAY_S)

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
                if not _is_read_only_refusal(exc):
                    raise
                # Misjudged as a read; the reader refused before changing anything.
        _reject_transaction_control(query)
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
    ) -> _LeasedBatch:
        """Piccolo's `.batch()`: on the writer inside a unit, else on a leased reader."""
        transaction = self._active_transaction()
        if transaction is not None:
            return _LeasedBatch(connection=transaction.connection, query=query, batch_size=batch_size)
        await self._ensure_started()
        assert self._idle_readers is not None
        idle = self._idle_readers
        reader = await idle.get()
        return _LeasedBatch(
            connection=reader,
            query=query,
            batch_size=batch_size,
            release=lambda: idle.put_nowait(reader),
        )
