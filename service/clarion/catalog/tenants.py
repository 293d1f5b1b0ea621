"""Create, change and delete projects, applications and events (SPEC §3.3, `admin`).

Every function resolves the path's slugs from the database (not the ≤ 1 s
cache: a management call sees what it just changed), 404 naming the first
unknown level; it is handed the body already decoded (the HTTP edge decodes it
after its own lookup of the path, so 404 still comes before 400). Writes
run in one `write_transaction()`; a duplicate slug is 409. After a change the
process's `TenantDirectory` forgets what it cached, so this process's triggers
see new flags at once and every other process's within the cache's second.

Deleting refuses (409, naming what is in the way) instead of cascading into
history or into what other parts of the API manage:

* an event with occurrences (they are the audit trail; deactivate or lock it
  instead); without occurrences its notifications, their subscriptions and
  templates, its event templates and stale idempotency claims go with it;
* an application that still has events, active API keys narrowed to it, distribution
  lists pinned to it or registered users (memberships);
* a project that still has applications, distribution lists or active API
  keys narrowed to it.

Revoked keys narrowed to a deleted project or application are deleted with it.
"""

from datetime import datetime, timezone
from typing import Any

import msgspec
from piccolo.table import Table

from clarion.auth.tables import ApiKey
from clarion.db.engine import write_transaction
from clarion.db.rows import exists, insert_unique
from clarion.decoding import changed_fields
from clarion.distribution.tables import DistributionList
from clarion.errors import Conflict
from clarion.events.directory import uncached_events
from clarion.events.tables import Event
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.occurrences.tables import IdempotencyRecord, Occurrence
from clarion.organizations.schemas import (
    ApplicationOut,
    EventDetailOut,
    EventIn,
    EventPatch,
    FlaggedIn,
    FlaggedPatch,
    ProjectOut,
)
from clarion.organizations.services import TenantDirectory, uncached_directory
from clarion.organizations.tables import Application, Project
from clarion.users.tables import ApplicationMembership

FLAG_FIELDS = ("name", "active", "locked", "paused")

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _project_out(row: dict[str, Any]) -> ProjectOut:
    return ProjectOut(**{name: row[name] for name in ("slug", *FLAG_FIELDS)})


# Projects ------------------------------------------------------------------------------------


async def create_project(tenants: TenantDirectory, org: str, data: FlaggedIn) -> ProjectOut:
    organization = await uncached_directory().organization(org)
    async with write_transaction():
        await insert_unique(
            Project(organization=organization.id, created=_now(), **msgspec.structs.asdict(data)),
            f"slug: project {data.slug!r} already exists",
        )
    tenants.forget()
    return ProjectOut(**msgspec.structs.asdict(data))


async def update_project(tenants: TenantDirectory, org: str, prj: str, patch: FlaggedPatch) -> ProjectOut:
    project = await uncached_directory().project(org, prj)
    changes = changed_fields(patch)
    row = await _update(Project, project.id, changes)
    tenants.forget()
    return _project_out(row)


async def delete_project(tenants: TenantDirectory, org: str, prj: str) -> None:
    project = await uncached_directory().project(org, prj)
    async with write_transaction():
        if await exists(Application, Application.project == project.id):
            raise Conflict(f"project {prj!r} has applications: delete them first")
        if await exists(DistributionList, DistributionList.project == project.id):
            raise Conflict(f"project {prj!r} has distribution lists: delete them first")
        if await exists(ApiKey, (ApiKey.project == project.id) & (ApiKey.active == True)):  # noqa: E712
            raise Conflict(f"project {prj!r} has active API keys narrowed to it: revoke them first")
        await _delete_revoked_keys(ApiKey.project == project.id)
        await Project.delete().where(Project.id == project.id)
    tenants.forget()


# Applications --------------------------------------------------------------------------------


async def create_application(tenants: TenantDirectory, org: str, prj: str, data: FlaggedIn) -> ApplicationOut:
    project = await uncached_directory().project(org, prj)
    async with write_transaction():
        await insert_unique(
            Application(project=project.id, created=_now(), **msgspec.structs.asdict(data)),
            f"slug: application {data.slug!r} already exists in project {prj!r}",
        )
    tenants.forget()
    return ApplicationOut(**msgspec.structs.asdict(data))


async def update_application(
    tenants: TenantDirectory, org: str, prj: str, app: str, patch: FlaggedPatch
) -> ApplicationOut:
    application = await uncached_directory().application(org, prj, app)
    changes = changed_fields(patch)
    row = await _update(Application, application.id, changes)
    tenants.forget()
    return ApplicationOut(**{name: row[name] for name in ("slug", *FLAG_FIELDS)})


async def delete_application(tenants: TenantDirectory, org: str, prj: str, app: str) -> None:
    application = await uncached_directory().application(org, prj, app)
    async with write_transaction():
        for table, condition, what in (
            (Event, Event.application == application.id, "events: delete them first"),
            (
                ApiKey,
                (ApiKey.application == application.id) & (ApiKey.active == True),  # noqa: E712
                "active API keys narrowed to it: revoke them first",
            ),
            (
                DistributionList,
                DistributionList.application == application.id,
                "distribution lists pinned to it: delete them first",
            ),
            (
                ApplicationMembership,
                ApplicationMembership.application == application.id,
                "registered users: unregister them first",
            ),
        ):
            if await exists(table, condition):
                raise Conflict(f"application {app!r} has {what}")
        await _delete_revoked_keys(ApiKey.application == application.id)
        await Application.delete().where(Application.id == application.id)
    tenants.forget()


# Events --------------------------------------------------------------------------------------


def _event_out(row: dict[str, Any]) -> EventDetailOut:
    return EventDetailOut(
        slug=row["slug"],
        name=row["name"],
        description=row["description"] or "",
        active=bool(row["active"]),
        locked=bool(row["locked"]),
        paused=bool(row["paused"]),
    )


async def create_event(tenants: TenantDirectory, org: str, prj: str, app: str, data: EventIn) -> EventDetailOut:
    application = await uncached_directory().application(org, prj, app)
    async with write_transaction():
        await insert_unique(
            Event(application=application.id, created=_now(), **msgspec.structs.asdict(data)),
            f"slug: event {data.slug!r} already exists in application {app!r}",
        )
    tenants.forget()
    return EventDetailOut(**msgspec.structs.asdict(data))


async def update_event(
    tenants: TenantDirectory, org: str, prj: str, app: str, evt: str, patch: EventPatch
) -> EventDetailOut:
    event = await uncached_events().event(org, prj, app, evt)
    changes = changed_fields(patch)
    row = await _update(Event, event.id, changes)
    tenants.forget()
    return _event_out(row)


async def delete_event(tenants: TenantDirectory, org: str, prj: str, app: str, evt: str) -> None:
    event = await uncached_events().event(org, prj, app, evt)
    async with write_transaction():
        if await exists(Occurrence, Occurrence.event == event.id):
            raise Conflict(f"event {evt!r} has occurrences: deactivate or lock it instead")
        notifications = [row["id"] for row in await Notification.select(Notification.id).where(Notification.event == event.id)]
        if notifications:
            await Subscription.delete().where(Subscription.notification.is_in(notifications))
        await Template.delete().where(Template.event == event.id)
        await Notification.delete().where(Notification.event == event.id)
        await IdempotencyRecord.delete().where(IdempotencyRecord.event == event.id)
        await Event.delete().where(Event.id == event.id)
    tenants.forget()


# -------------------------------------------------------------------------------------------


async def _delete_revoked_keys(narrowed: Any) -> None:
    """Delete the (already revoked) keys matching `narrowed`, with their idempotency records."""
    keys = [row["id"] for row in await ApiKey.select(ApiKey.id).where(narrowed)]
    if keys:
        await IdempotencyRecord.delete().where(IdempotencyRecord.api_key.is_in(keys))
        await ApiKey.delete().where(ApiKey.id.is_in(keys))


async def _update(table: type[Table], pk: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` to row `pk` of `table` (in one unit) and return the row as it now is."""
    columns = {column._meta.name: column for column in table._meta.columns}
    async with write_transaction():
        if changes:
            await table.update({columns[name]: value for name, value in changes.items()}).where(
                table._meta.primary_key == pk
            )
        row = await table.select().where(table._meta.primary_key == pk).first()
    return _booleans(row)


def _booleans(row: dict[str, Any]) -> dict[str, Any]:
    return {name: bool(value) if name in ("active", "locked", "paused") else value for name, value in row.items()}

