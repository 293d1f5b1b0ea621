"""Resolving a path's slugs down to an event (cached ≤ 1 s), with what its parents' flags mean.

`EventDirectory` is `TenantDirectory`'s counterpart for the last level: one
query per miss joins the event with its application and project, so the hot
trigger path does no lookup query at all and a locked, deactivated or paused
event or parent is seen within a second. An unknown slug is 404 naming the
first level that does not exist.
"""

from dataclasses import dataclass
from typing import Any

from clarion.cache import TtlCache
from clarion.errors import NotFound
from clarion.events.tables import Event
from clarion.organizations.services import SLUG_CACHE_TTL_S, TenantDirectory, flags_of, refusal_of


@dataclass(frozen=True, slots=True)
class EventRef:
    """An event with what its parents' flags mean for a trigger."""

    id: int
    slug: str
    name: str
    application_id: int
    project_id: int
    organization_id: int
    refusal: str | None  # why it cannot be triggered (the first inactive or locked level), or None
    paused: bool  # the event or a parent is paused


class EventDirectory:
    """(org, prj, app, evt) slugs → `EventRef`, each cached for at most `ttl_s` seconds (misses too)."""

    def __init__(self, tenants: TenantDirectory, *, ttl_s: float = SLUG_CACHE_TTL_S) -> None:
        self.tenants = tenants
        self._cache: TtlCache[tuple[str, str, str, str], Any] = TtlCache(lambda path: _load_event(*path), ttl_s=ttl_s)
        tenants.on_forget(self.forget)

    async def event(self, org: str, prj: str, app: str, evt: str) -> EventRef:
        ref = await self._cache.get((org, prj, app, evt))
        if ref is None:
            await self.tenants.application(org, prj, app)
            raise NotFound(f"unknown event {evt!r}")
        return ref  # type: ignore[no-any-return]

    def forget(self) -> None:
        """Drop every cached ref: this process sees a management change at once (others within the TTL)."""
        self._cache.clear()


def uncached_events() -> EventDirectory:
    """A directory that reads the database on every lookup (management checks what it changes)."""
    return EventDirectory(TenantDirectory(ttl_s=0.0), ttl_s=0.0)


async def _load_event(org: str, prj: str, app: str, evt: str) -> EventRef | None:
    application = Event.application
    project = Event.application.project
    row = await (
        Event.select(
            Event.id,
            Event.slug,
            Event.name,
            Event.active,
            Event.locked,
            Event.paused,
            application.id.as_alias("application_id"),
            application.active.as_alias("application_active"),
            application.locked.as_alias("application_locked"),
            application.paused.as_alias("application_paused"),
            project.id.as_alias("project_id"),
            project.active.as_alias("project_active"),
            project.locked.as_alias("project_locked"),
            project.paused.as_alias("project_paused"),
            project.organization.id.as_alias("organization_id"),
        )
        .where(
            (Event.slug == evt)
            & (application.slug == app)
            & (project.slug == prj)
            & (project.organization.slug == org)
        )
        .first()
    )
    if row is None:
        return None
    levels = (
        (f"project {prj!r}", flags_of(row, "project_")),
        (f"application {app!r}", flags_of(row, "application_")),
        (f"event {evt!r}", flags_of(row)),
    )
    return EventRef(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        application_id=row["application_id"],
        project_id=row["project_id"],
        organization_id=row["organization_id"],
        refusal=refusal_of(levels),
        paused=any(flags.paused for _, flags in levels),
    )
