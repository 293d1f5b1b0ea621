"""List an application's events (SPEC §3.1). The trigger itself is `clarion.occurrences.trigger`."""

from dataclasses import dataclass

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


async def list_events(tenants: TenantDirectory, org: str, prj: str, app: str, page: PageRequest) -> Page[EventOut]:
    application = await tenants.application(org, prj, app)
    query = Event.select(
        Event.name, Event.slug, Event.description, Event.active, Event.locked, Event.paused
    ).where(Event.application == application.id)
    rows = await page_of_query(query, page, key=Event.slug)
    return rows.map(
        lambda row: EventOut(
            name=row["name"],
            slug=row["slug"],
            description=row["description"] or "",
            active=bool(row["active"]),
            locked=bool(row["locked"]),
            paused=bool(row["paused"]),
        )
    )
