"""Notifications of an event and message templates: list, create, change, delete (SPEC §3.3).

Order of checks: the path's slugs and ids (404) → the body (400 naming the
field, decoded by the HTTP edge once the path is found) → conflicts (409). What a body must satisfy:

* `distribution_list`: a list of the event's project; a list pinned to an
  application only serves that application's events; an application key sees
  only lists pinned to its application (any other id is "unknown", as in the
  list reads);
* `channels` and a template's channel: configured channels (a disabled one is
  accepted, as for triggers);
* templates: every part at most `templates.max_bytes` and compilable in the
  sandbox deliveries render in, checked in a render worker process like every
  render (`TemplateRenderer.check`).

Deleting a notification that deliveries refer to is 409 (deliveries are the
history; deactivate it instead); otherwise its subscriptions and templates go
with it.
"""

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import msgspec

from clarion.auth.services import ApiPrincipal
from clarion.channels.runtime import ChannelSet
from clarion.db.engine import write_transaction
from clarion.db.rows import UNIQUE_VIOLATIONS, exists, insert_unique
from clarion.decoding import changed_fields
from clarion.distribution.tables import DistributionList
from clarion.errors import BadRequest, Conflict, NotFound
from clarion.events.directory import EventRef, uncached_events
from clarion.events.services import EventPath
from clarion.notifications.schemas import (
    NotificationDetailOut,
    NotificationIn,
    NotificationOut,
    NotificationPatch,
    TemplateIn,
    TemplateOut,
)
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.occurrences.tables import Delivery
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.rendering import PARTS, TemplateParts, TemplateRenderer

NOTIFICATION_COLUMNS = (
    Notification.id,
    Notification.name,
    Notification.distribution_list,
    Notification.channels,
    Notification.environments,
    Notification.active,
)


async def _event(path: EventPath) -> EventRef:
    return await uncached_events().event(path.org, path.prj, path.app, path.evt)


async def _notification_row(event: EventRef, pk: int) -> dict[str, Any]:
    row = await (
        Notification.select(*NOTIFICATION_COLUMNS)
        .where((Notification.id == pk) & (Notification.event == event.id))
        .output(load_json=True)
        .first()
    )
    if row is None:
        raise NotFound(f"unknown notification {pk}")
    return row  # type: ignore[no-any-return]


def _notification_out(row: Mapping[str, Any]) -> NotificationOut:
    return NotificationOut(
        id=row["id"],
        name=row["name"],
        distribution_list=row["distribution_list"],
        channels=list(row["channels"] or []),
        environments=list(row["environments"] or []),
        active=bool(row["active"]),
    )


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# Notifications -------------------------------------------------------------------------------


async def list_notifications(path: EventPath, page: PageRequest) -> Page[NotificationOut]:
    event = await _event(path)
    query = Notification.select(*NOTIFICATION_COLUMNS).where(Notification.event == event.id).output(load_json=True)
    rows = await page_of_query(query, page, key=Notification.id)
    return rows.map(_notification_out)


async def check_notification(path: EventPath, pk: int) -> None:
    """404 unless the event has notification `pk`."""
    await _notification_row(await _event(path), pk)


async def read_notification(path: EventPath, pk: int) -> NotificationDetailOut:
    event = await _event(path)
    row = await _notification_row(event, pk)
    templates = await (
        Template.select(Template.channel, Template.subject, Template.text, Template.html)
        .where((Template.event == event.id) & (Template.notification == pk))
        .order_by(Template.channel)
    )
    return NotificationDetailOut(
        **msgspec.structs.asdict(_notification_out(row)),
        templates=[TemplateOut(**template) for template in templates],
    )


async def create_notification(
    channels: ChannelSet, principal: ApiPrincipal, path: EventPath, data: NotificationIn
) -> NotificationOut:
    event = await _event(path)
    await _check_notification(channels, principal, event, msgspec.structs.asdict(data))
    async with write_transaction():
        pk = await insert_unique(
            Notification(
                event=event.id,
                name=data.name,
                distribution_list=data.distribution_list,
                channels=_json(data.channels),
                environments=_json(data.environments),
                active=data.active,
                created=datetime.now(timezone.utc),
            ),
            f"name: notification {data.name!r} already exists for event {path.evt!r}",
        )
    return NotificationOut(id=pk, **msgspec.structs.asdict(data))


async def update_notification(
    channels: ChannelSet, principal: ApiPrincipal, path: EventPath, pk: int, patch: NotificationPatch
) -> NotificationOut:
    event = await _event(path)
    await _notification_row(event, pk)
    changes = changed_fields(patch)
    await _check_notification(channels, principal, event, changes)
    values: dict[Any, Any] = {}
    for name, value in changes.items():
        column = getattr(Notification, name)
        values[column] = _json(value) if name in ("channels", "environments") else value
    async with write_transaction():
        if values:
            try:
                await Notification.update(values).where(Notification.id == pk)
            except UNIQUE_VIOLATIONS:
                raise Conflict(
                    f"name: notification {changes.get('name')!r} already exists for event {path.evt!r}"
                ) from None
    return _notification_out(await _notification_row(event, pk))


async def delete_notification(path: EventPath, pk: int) -> None:
    event = await _event(path)
    await _notification_row(event, pk)
    async with write_transaction():
        if await exists(Delivery, Delivery.notification == pk):
            raise Conflict(f"notification {pk} has deliveries: deactivate it instead (active = false)")
        await Subscription.delete().where(Subscription.notification == pk)
        await Template.delete().where(Template.notification == pk)
        await Notification.delete().where(Notification.id == pk)


async def _check_notification(
    channels: ChannelSet, principal: ApiPrincipal, event: EventRef, fields: Mapping[str, Any]
) -> None:
    """400 naming the field when the list or a channel is not one the notification may use."""
    for index, channel in enumerate(fields.get("channels") or ()):
        check_channel(channels, channel, f"channels[{index}]")
        if channel in fields["channels"][:index]:
            raise BadRequest(f"channels[{index}]: channel {channel!r} is listed twice")
    list_id = fields.get("distribution_list")
    if list_id is None:
        return
    row = await DistributionList.select(DistributionList.project, DistributionList.application).where(
        DistributionList.id == list_id
    ).first()
    visible = (
        row is not None
        and row["project"] == event.project_id
        and (principal.application_id is None or row["application"] == principal.application_id)
    )
    if not visible:
        raise BadRequest(f"distribution_list: unknown distribution list {list_id} in this project")
    if row["application"] is not None and row["application"] != event.application_id:  # type: ignore[index]
        raise BadRequest(
            f"distribution_list: list {list_id} is pinned to another application and cannot serve this event"
        )


def check_channel(channels: ChannelSet, channel: str, field: str) -> None:
    if channels.state(channel) == "unknown":
        raise BadRequest(f"{field}: channel {channel!r} is not configured")


# Templates -----------------------------------------------------------------------------------


async def put_template(
    channels: ChannelSet,
    renderer: TemplateRenderer,
    path: EventPath,
    notification: int | None,
    channel: str,
    data: TemplateIn,
) -> tuple[TemplateOut, bool]:
    """Create or replace the (event or notification) template for `channel`; True when it was created."""
    event = await _event(path)
    if notification is not None:
        await _notification_row(event, notification)
    check_channel(channels, channel, "channel")
    await check_template(renderer, path.org, data)
    where = _template_scope(event, notification, channel)
    parts = {"subject": data.subject, "text": data.text, "html": data.html}
    async with write_transaction():
        existing = await Template.select(Template.id).where(where).first()
        if existing is None:
            await insert_unique(
                Template(
                    event=event.id,
                    notification=notification,
                    channel=channel,
                    created=datetime.now(timezone.utc),
                    **parts,
                ),
                f"channel: a template for {channel!r} was created concurrently; retry",
            )
        else:
            await Template.update({getattr(Template, name): value for name, value in parts.items()}).where(
                Template.id == existing["id"]
            )
    return TemplateOut(channel=channel, **parts), existing is None


async def delete_template(path: EventPath, notification: int | None, channel: str) -> None:
    event = await _event(path)
    if notification is not None:
        await _notification_row(event, notification)
    where = _template_scope(event, notification, channel)
    async with write_transaction():
        if not await exists(Template, where):
            raise NotFound(f"no template for channel {channel!r}")
        await Template.delete().where(where)


def _template_scope(event: EventRef, notification: int | None, channel: str) -> Any:
    owner = Template.notification.is_null() if notification is None else Template.notification == notification
    return (Template.event == event.id) & owner & (Template.channel == channel)


async def check_template(renderer: TemplateRenderer, organization: str, data: TemplateIn) -> None:
    """400 naming the part that is too large or does not compile in the renderer's sandbox."""
    if all(getattr(data, part) is None for part in PARTS):
        raise BadRequest("body: give at least one of subject, text, html")
    errors = await renderer.check(TemplateParts(data.subject, data.text, data.html), tenant=organization)
    if errors:
        raise BadRequest(errors[0])
