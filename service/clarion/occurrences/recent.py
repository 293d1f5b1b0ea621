"""The latest occurrences with their deliveries, across every organization (`clarion occurrences`)."""

from datetime import datetime

import msgspec

from clarion.occurrences.tables import Delivery, Occurrence


class RecentDelivery(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    channel: str
    address: str
    status: str
    reason: str | None
    attempts: int
    last_error: str | None


class RecentOccurrence(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    created: datetime
    event: str
    """`organization/project/application/event`."""
    status: str
    recipients: int
    error: str | None
    deliveries: tuple[RecentDelivery, ...]


async def recent_occurrences(
    *, event: str | None = None, status: str | None = None, limit: int = 20
) -> list[RecentOccurrence]:
    """The `limit` newest occurrences (oldest first), optionally of one event slug and in one status."""
    application = Occurrence.event.application
    query = Occurrence.select(
        Occurrence.id,
        Occurrence.created,
        Occurrence.status,
        Occurrence.recipients,
        Occurrence.error,
        Occurrence.event.slug.as_alias("event_slug"),
        application.slug.as_alias("application_slug"),
        application.project.slug.as_alias("project_slug"),
        application.project.organization.slug.as_alias("organization_slug"),
    )
    if event is not None:
        query = query.where(Occurrence.event.slug == event)
    if status is not None:
        query = query.where(Occurrence.status == status)
    rows = list(reversed(await query.order_by(Occurrence.id, ascending=False).limit(limit)))
    deliveries: dict[str, list[RecentDelivery]] = {row["id"]: [] for row in rows}
    if rows:
        for delivery in await Delivery.select(
            Delivery.id, Delivery.occurrence, Delivery.channel, Delivery.address, Delivery.status,
            Delivery.reason, Delivery.attempts, Delivery.last_error,
        ).where(Delivery.occurrence.is_in(list(deliveries))).order_by(Delivery.id):
            occurrence = delivery.pop("occurrence")
            deliveries[occurrence].append(RecentDelivery(**delivery))
    return [
        RecentOccurrence(
            id=row["id"],
            created=row["created"],
            event="/".join(
                row[key] for key in ("organization_slug", "project_slug", "application_slug", "event_slug")
            ),
            status=row["status"],
            recipients=row["recipients"],
            error=row["error"],
            deliveries=tuple(deliveries[row["id"]]),
        )
        for row in rows
    ]
