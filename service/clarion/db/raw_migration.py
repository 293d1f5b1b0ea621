"""Migration steps written as plain SQL that runs unchanged on SQLite and PostgreSQL."""

from collections.abc import Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder


def sql_migration(migration_id: str, description: str, statements: Sequence[str]) -> MigrationManager:
    """A migration that runs `statements` in order (keep them idempotent: `IF NOT EXISTS`)."""
    manager = MigrationManager(migration_id=migration_id, app_name="clarion", description=description)

    async def run_statements() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(run_statements)
    return manager
