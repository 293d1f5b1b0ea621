"""List an application's events (SPEC §3.1) and read one. The trigger itself is `clarion.occurrences.trigger`."""

from dataclasses import dataclass
from typing import Any

from clarion.errors import NotFound
from clarion.events.schemas import EventOut
from clarion.events.tables import Event
from clarion.organizations.services import TenantDirectory
from clarion.pagination import Page, PageRequest, page_of_query


@dataclass(frozen=True, slots=True)
class EventPath:
    org: str
    prj: str
    app: str
    evt: str


_COLUMNS = (Event.name, Event.slug, Event.description, Event.active, Event.locked, Event.paused)


async def list_events(tenants: TenantDirectory, org: str, prj: str, app: str, page: PageRequest) -> Page[EventOut]:
    application = await tenants.application(org, prj, app)
    query = Event.select(*_COLUMNS).where(Event.application == application.id)
    rows = await page_of_query(query, page, key=Event.slug)
    return rows.map(_event_out)


async def read_event(tenants: TenantDirectory, path: EventPath) -> EventOut:
    """One event, as the list shows it (read from the database: what was just changed)."""
    application = await tenants.application(path.org, path.prj, path.app)
    row = await Event.select(*_COLUMNS).where((Event.application == application.id) & (Event.slug == path.evt)).first()
    if row is None:
        raise NotFound(f"unknown event {path.evt!r}")
    return _event_out(row)


def _event_out(row: dict[str, Any]) -> EventOut:
    return EventOut(
        name=row["name"],
        slug=row["slug"],
        description=row["description"] or "",
        active=bool(row["active"]),
        locked=bool(row["locked"]),
        paused=bool(row["paused"]),
    )
