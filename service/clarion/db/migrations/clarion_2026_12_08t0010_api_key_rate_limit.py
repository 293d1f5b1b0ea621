"""A key's own rate limit (`[rate_limit]` is the default): requests a minute and burst, NULL for the default."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from clarion.db.raw_migration import sql_migration

ID = "2026-12-08T00:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "API key rate limit override"

COLUMNS = (
    "ALTER TABLE api_key ADD COLUMN rate_per_minute INTEGER NULL",
    "ALTER TABLE api_key ADD COLUMN rate_burst INTEGER NULL",
)


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, COLUMNS)
