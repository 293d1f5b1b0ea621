"""Loading what recipient resolution decides on (`clarion.occurrences.resolution`): the dispatcher's reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clarion.db.engine import fetch
from clarion.db.sql import decode_json, placeholders
from clarion.occurrences.resolution import (
    Candidate,
    EventScope,
    Named,
    NotificationRule,
    UserFields,
    merge_fields,
)


async def load_event_scope(event_id: int) -> EventScope | None:
    rows = await fetch(
        "SELECT e.id AS event_id, e.slug AS event_slug, e.name AS event_name,"
        " a.id AS application_id, a.slug AS application_slug, a.name AS application_name,"
        " p.slug AS project_slug, p.name AS project_name,"
        " o.slug AS organization_slug, o.name AS organization_name"
        " FROM event e"
        " JOIN application a ON a.id = e.application"
        " JOIN project p ON p.id = a.project"
        " JOIN organization o ON o.id = p.organization"
        " WHERE e.id = {}",
        event_id,
    )
    if not rows:
        return None
    row = rows[0]
    return EventScope(
        event_id=row["event_id"],
        application_id=row["application_id"],
        event=Named(row["event_slug"], row["event_name"]),
        application=Named(row["application_slug"], row["application_name"]),
        project=Named(row["project_slug"], row["project_name"]),
        organization=Named(row["organization_slug"], row["organization_name"]),
    )


async def load_notifications(event_id: int) -> list[NotificationRule]:
    """The event's active notifications."""
    rows = await fetch(
        "SELECT id, name, distribution_list, channels, environments, context_filter"
        " FROM notification WHERE event = {} AND active = {} ORDER BY id",
        event_id,
        True,
    )
    return [
        NotificationRule(
            id=row["id"],
            name=row["name"],
            distribution_list=row["distribution_list"],
            channels=tuple(decode_json(row["channels"], [])),
            environments=tuple(decode_json(row["environments"], [])),
            context_filter=decode_json(row["context_filter"], {}),
        )
        for row in rows
    ]


_CANDIDATE_COLUMNS = (
    "n.id AS notification, asg.id AS assignment, asg.channel AS channel, asg.secret AS secret,"
    " ad.value AS address, u.username AS username, u.email AS email, u.first_name AS first_name,"
    " u.last_name AS last_name, u.locked AS locked, u.custom_fields AS custom_fields,"
    " am.custom_fields AS membership_fields"
)
_CANDIDATE_JOINS = (
    " JOIN address ad ON ad.id = asg.address"
    ' JOIN clarion_user u ON u.id = ad."user"'
    ' LEFT JOIN application_membership am ON am."user" = u.id AND am.application = {} AND am.active = {}'
)


async def load_candidates(notifications: Sequence[NotificationRule], application_id: int) -> list[Candidate]:
    """Active assignments in the notifications' lists, and active subscriptions (UNION ALL:
    PostgreSQL cannot compare JSON for UNION; duplicates are dropped in `resolve_recipients`)."""
    if not notifications:
        return []
    ids = [notification.id for notification in notifications]
    marks = placeholders(len(ids))
    rows = await fetch(
        f"SELECT {_CANDIDATE_COLUMNS} FROM notification n"
        " JOIN distribution_list_member m ON m.distribution_list = n.distribution_list"
        " JOIN assignment asg ON asg.id = m.assignment"
        f"{_CANDIDATE_JOINS}"
        f" WHERE n.id IN ({marks}) AND asg.active = {{}}"
        " UNION ALL"
        f" SELECT {_CANDIDATE_COLUMNS} FROM subscription s"
        " JOIN notification n ON n.id = s.notification"
        " JOIN assignment asg ON asg.id = s.assignment"
        f"{_CANDIDATE_JOINS}"
        f" WHERE s.notification IN ({marks}) AND s.active = {{}} AND asg.active = {{}}",
        application_id,
        True,
        *ids,
        True,
        application_id,
        True,
        *ids,
        True,
        True,
    )
    candidates = []
    for row in rows:
        custom_fields = decode_json(row["custom_fields"], {})
        membership_fields = decode_json(row["membership_fields"], {})
        if isinstance(membership_fields, Mapping) and membership_fields:
            custom_fields = merge_fields(custom_fields if isinstance(custom_fields, Mapping) else {}, membership_fields)
        candidates.append(
            Candidate(
                notification=row["notification"],
                assignment=row["assignment"],
                channel=row["channel"],
                address=row["address"],
                secret=row["secret"],
                user=UserFields(
                    username=row["username"],
                    email=row["email"] or "",
                    first_name=row["first_name"] or "",
                    last_name=row["last_name"] or "",
                    custom_fields=custom_fields if isinstance(custom_fields, Mapping) else {},
                    locked=bool(row["locked"]),
                ),
            )
        )
    return candidates
