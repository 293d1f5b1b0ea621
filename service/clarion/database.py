"""The process's database: every table bound to one engine, and Clarion's migrations.

The one place that knows every domain's tables (`clarion.tables`) and the
engines (`clarion.db`) at once.
"""

import contextlib
import io
import os
from collections.abc import AsyncIterator

from clarion.db.engine import ClarionEngine, bind_engine, create_engine
from clarion.errors import ServiceUnavailable
from clarion.settings import DatabaseSettings
from clarion.tables import ALL_TABLES

PICCOLO_CONF = "clarion.piccolo_conf"
"""Where Piccolo's migration machinery finds the engine and the app (it reads `PICCOLO_CONF`)."""


def bind_tables(engine: ClarionEngine) -> None:
    """Point every Clarion table (and Piccolo's migration bookkeeping) at `engine`."""
    bind_engine(engine, ALL_TABLES)


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


async def migrate(engine: ClarionEngine) -> list[str]:
    """Apply pending migrations on `engine`; returns the ids applied."""
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    bind_tables(engine)
    os.environ["PICCOLO_CONF"] = PICCOLO_CONF  # Piccolo's only way to be told where its configuration is
    await Migration.create_table(if_not_exists=True)
    before = set(await Migration.get_migrations_which_ran(app_name="clarion"))
    with contextlib.redirect_stdout(io.StringIO()) as output:
        result = await run_forwards(app_name="clarion")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{output.getvalue()}")
    after = await Migration.get_migrations_which_ran(app_name="clarion")
    return sorted(set(after) - before)


def known_migrations() -> list[str]:
    """The ids of every migration this version of Clarion ships, in order."""
    import importlib
    import pkgutil

    from clarion.db import migrations

    ids = []
    for module in pkgutil.iter_modules(migrations.__path__):
        if module.name.startswith("clarion_"):
            ids.append(importlib.import_module(f"{migrations.__name__}.{module.name}").ID)
    return sorted(ids)


async def pending_migrations() -> list[str]:
    """The ids of the migrations the bound database has not run (`clarion migrate --check`, `doctor`)."""
    from piccolo.apps.migrations.tables import Migration

    ran = set(await Migration.get_migrations_which_ran(app_name="clarion")) if await Migration.table_exists() else set()
    return [migration for migration in known_migrations() if migration not in ran]


async def require_migrated() -> None:
    """Fail with a clear message when `clarion migrate` has not been run."""
    from piccolo.apps.migrations.tables import Migration

    if not await Migration.table_exists() or not await ALL_TABLES[0].table_exists():
        raise ServiceUnavailable("the database is not migrated: run `clarion migrate` first")
