"""Every console request looks its session up by the cookie's token: index it (unique, as tokens are)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from clarion.db.raw_migration import sql_migration

ID = "2026-12-08T00:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operator session token index"

INDEXES = ("CREATE UNIQUE INDEX IF NOT EXISTS operator_session_token ON operator_session (token)",)


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, INDEXES)
