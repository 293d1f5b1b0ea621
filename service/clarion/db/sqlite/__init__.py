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

from clarion.db.sqlite.engine import ClarionSQLiteEngine
from clarion.db.sqlite.statements import is_read_only_sql
from clarion.db.sqlite.transactions import BatchNotCommittedError, ClarionSQLiteTransaction, WriterStats

__all__ = [
    "BatchNotCommittedError",
    "ClarionSQLiteEngine",
    "ClarionSQLiteTransaction",
    "WriterStats",
    "is_read_only_sql",
]
