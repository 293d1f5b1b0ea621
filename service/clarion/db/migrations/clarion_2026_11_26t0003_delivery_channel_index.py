"""The dispatcher counts and claims due deliveries per channel: index (status, channel, next_attempt_at).

Also indexes pending work by age for `/metrics` (oldest pending occurrence / delivery).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from clarion.db.raw_migration import sql_migration

ID = "2026-11-26T06:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "delivery per-channel claim index and pending-age indexes"

INDEXES = (
    "CREATE INDEX IF NOT EXISTS delivery_status_channel_due ON delivery (status, channel, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS delivery_status_created ON delivery (status, created)",
    "CREATE INDEX IF NOT EXISTS occurrence_status_created ON occurrence (status, created)",
)


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, INDEXES)
