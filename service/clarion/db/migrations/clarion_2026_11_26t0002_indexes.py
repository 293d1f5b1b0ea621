"""Uniqueness and lookup indexes.

Piccolo adds composite `Unique` constraints with `ALTER TABLE … ADD CONSTRAINT`,
which SQLite does not support, so every composite key is a unique index here,
written as plain `CREATE INDEX` that runs the same on SQLite and PostgreSQL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from clarion.db.raw_migration import sql_migration

ID = "2026-11-26T05:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique keys and dispatcher indexes"

INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS project_slug ON project (organization, slug)",
    "CREATE UNIQUE INDEX IF NOT EXISTS application_slug ON application (project, slug)",
    "CREATE UNIQUE INDEX IF NOT EXISTS event_slug ON event (application, slug)",
    "CREATE UNIQUE INDEX IF NOT EXISTS clarion_user_username ON clarion_user (organization, username)",
    "CREATE UNIQUE INDEX IF NOT EXISTS address_name ON address (\"user\", name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS assignment_channel ON assignment (address, channel)",
    "CREATE UNIQUE INDEX IF NOT EXISTS application_membership_member"
    " ON application_membership (application, \"user\")",
    "CREATE UNIQUE INDEX IF NOT EXISTS distribution_list_name ON distribution_list (project, name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS distribution_list_member_assignment"
    " ON distribution_list_member (distribution_list, assignment)",
    "CREATE UNIQUE INDEX IF NOT EXISTS notification_name ON notification (event, name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS subscription_assignment ON subscription (notification, assignment)",
    "CREATE UNIQUE INDEX IF NOT EXISTS api_key_name ON api_key (organization, name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS delivery_unique ON delivery (occurrence, assignment, notification)",
    "CREATE UNIQUE INDEX IF NOT EXISTS idempotency_record_key ON idempotency_record (api_key, event, key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS template_scope_channel"
    " ON template (event, COALESCE(notification, 0), channel)",
    "CREATE INDEX IF NOT EXISTS occurrence_status_lease ON occurrence (status, lease_until)",
    "CREATE INDEX IF NOT EXISTS occurrence_event_id ON occurrence (event, id)",
    "CREATE INDEX IF NOT EXISTS delivery_status_due ON delivery (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS delivery_occurrence ON delivery (occurrence)",
    "CREATE INDEX IF NOT EXISTS idempotencyrecord_expires ON idempotency_record (expires_at)",
)


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, INDEXES)
