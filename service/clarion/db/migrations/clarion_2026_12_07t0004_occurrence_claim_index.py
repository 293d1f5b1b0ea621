"""The dispatcher claims pending occurrences oldest first (`ORDER BY id`): index (status, id).

Without it SQLite sorted every pending occurrence to pick the first few (a
temporary B-tree per claim: ~90 ms per claim with 100,000 pending, so a
backlog drained at ~30 occurrences/s).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from clarion.db.raw_migration import sql_migration

ID = "2026-12-07T17:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "occurrence claim index in id order"

INDEXES = ("CREATE INDEX IF NOT EXISTS occurrence_status_id ON occurrence (status, id)",)


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, INDEXES)
