"""Engine selection from settings, table binding and migrations."""

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from piccolo.engine.base import Engine

from clarion.db.postgres import ClarionPostgresEngine
from clarion.db.sqlite import ClarionSQLiteEngine
from clarion.db.tables import ALL_TABLES
from clarion.settings import DatabaseSettings, SettingsError

PICCOLO_CONF = "clarion.db.piccolo_conf"

ClarionEngine = ClarionSQLiteEngine | ClarionPostgresEngine


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


def bind_tables(engine: Engine) -> None:
    """Point every table (and Piccolo's migration bookkeeping) at `engine`."""
    from piccolo.apps.migrations.tables import Migration

    for table in (*ALL_TABLES, Migration):
        table._meta._db = engine
    os.environ["PICCOLO_CONF"] = PICCOLO_CONF
    conf = sys.modules.get(PICCOLO_CONF)
    if conf is None:
        sys.modules[PICCOLO_CONF] = conf = _piccolo_conf_module()
    conf.DB = engine  # type: ignore[attr-defined]


def _piccolo_conf_module():  # type: ignore[no-untyped-def]
    """A piccolo_conf module that does not build its own engine from settings."""
    import types

    from piccolo.conf.apps import AppRegistry

    module = types.ModuleType(PICCOLO_CONF)
    module.APP_REGISTRY = AppRegistry(apps=["clarion.db.piccolo_app"])  # type: ignore[attr-defined]
    return module


@contextlib.asynccontextmanager
async def running_engine(database: DatabaseSettings) -> AsyncIterator[ClarionEngine]:
    """Create, bind, start and finally close the process's engine."""
    engine = create_engine(database)
    bind_tables(engine)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


async def migrate(engine: Engine) -> list[str]:
    """Apply pending migrations; returns the ids applied."""
    import io
    from contextlib import redirect_stdout

    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    bind_tables(engine)
    await Migration.create_table(if_not_exists=True)
    before = set(await Migration.get_migrations_which_ran(app_name="clarion"))
    with redirect_stdout(io.StringIO()) as output:
        result = await run_forwards(app_name="clarion")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{output.getvalue()}")
    after = await Migration.get_migrations_which_ran(app_name="clarion")
    return sorted(set(after) - before)


def write_transaction() -> contextlib.AbstractAsyncContextManager[None]:
    """A unit of work on the bound engine: group-committed on SQLite, a transaction on PostgreSQL.

    It returns only once the unit is durably committed.
    """
    return ALL_TABLES[0]._meta.db.write()  # type: ignore[attr-defined,no-any-return]


async def require_migrated() -> None:
    """Fail with a clear message when `clarion migrate` has not been run."""
    from piccolo.apps.migrations.tables import Migration

    from clarion.errors import ClarionError

    if not await Migration.table_exists() or not await ALL_TABLES[0].table_exists():
        raise ClarionError("the database is not migrated: run `clarion migrate` first")
