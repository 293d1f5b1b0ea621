"""Engine selection from settings, the process's bound engine, and its unit of work.

This package knows no domain: whoever starts the process (`clarion.database`)
names the tables to bind.
"""

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from piccolo.table import Table

from clarion.db.postgres import ClarionPostgresEngine
from clarion.db.sqlite import ClarionSQLiteEngine
from clarion.settings import DatabaseSettings, SettingsError

ClarionEngine = ClarionSQLiteEngine | ClarionPostgresEngine

_bound: ClarionEngine | None = None


def create_engine(database: DatabaseSettings) -> ClarionEngine:
    """The engine for `database.url`: `sqlite:///relative.db`, `sqlite:////abs.db` or `postgresql://…`."""
    url = database.url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return ClarionSQLiteEngine(str(path), synchronous=database.synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        return ClarionPostgresEngine(
            config={"dsn": url}, pool_max_size=database.pool_size
        )
    raise SettingsError(
        f"database.url: unsupported URL {url.split(':', 1)[0]!r}:"
        " use sqlite:///path.db or postgresql://user:password@host:port/db"
    )


def bind_engine(engine: ClarionEngine, tables: Iterable[type[Table]]) -> None:
    """Point `tables` (and Piccolo's migration bookkeeping) at `engine`: the process's one engine."""
    from piccolo.apps.migrations.tables import Migration

    global _bound
    for table in (*tables, Migration):
        table._meta._db = engine
    _bound = engine


def has_bound_engine() -> bool:
    return _bound is not None


def bound_engine() -> ClarionEngine:
    """The engine `bind_engine` bound; RuntimeError before that."""
    if _bound is None:
        raise RuntimeError("no database engine is bound: use clarion.database.running_engine")
    return _bound


async def fetch(statement: str, *args: Any) -> list[dict[str, Any]]:
    """Hand-written SQL (Piccolo's `{}` placeholders) on the bound engine, without building a Piccolo
    query (the hot paths: the trigger, the dispatcher's store): rows as dicts."""
    return await bound_engine().fetch(statement, args)


async def append_row(statement: str, *args: Any) -> None:
    """INSERT one row (`statement` with Piccolo's `{}` placeholders) in a batch shared with
    concurrent callers (`clarion.db.appender`); returns once it is durably committed."""
    await bound_engine().appender.append(statement, args)


def write_transaction() -> contextlib.AbstractAsyncContextManager[None]:
    """A unit of work on the bound engine: group-committed on SQLite, a transaction on PostgreSQL.

    It returns only once the unit is durably committed.
    """
    return bound_engine().write()
