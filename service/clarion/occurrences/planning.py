"""Planning an occurrence (SPEC §5.1): who gets what, rendered — without writing anything.

`plan_occurrence` resolves the recipients (`clarion.occurrences.resolution`),
picks each one's template and renders every message in one call to the render
pool. The dispatcher stores the plan (`clarion.occurrences.store.expansion`);
the preview endpoint shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from clarion.channels.runtime import ChannelSet
from clarion.occurrences.resolution import resolve_recipients
from clarion.occurrences.schemas import decode_options
from clarion.occurrences.statuses import DeliveryReason, DeliveryStatus
from clarion.occurrences.store.claims import OccurrenceRecord
from clarion.occurrences.store.expansion import Plan, PlannedDelivery, load_templates
from clarion.occurrences.store.recipients import load_candidates, load_event_scope, load_notifications
from clarion.rendering import PARTS, RenderError, RenderJob, TemplateRenderer, template_context


class ExpansionError(Exception):
    """The occurrence cannot be expanded, now or ever: it is marked `failed` with this error."""


def occurrence_names(occurrence: OccurrenceRecord) -> dict[str, Any]:
    return {
        "id": occurrence.id,
        "correlation_id": occurrence.correlation_id,
        "timestamp": occurrence.created.isoformat(),
    }


async def plan_occurrence(
    occurrence: OccurrenceRecord, channels: ChannelSet, renderer: TemplateRenderer
) -> Plan:
    """Who gets what for `occurrence`; raises ExpansionError if it cannot be expanded."""
    try:
        options = decode_options(occurrence.options)
    except msgspec.ValidationError as exc:
        raise ExpansionError(f"options: {exc}") from exc
    if not isinstance(occurrence.context, Mapping):
        raise ExpansionError("context: expected an object")
    scope = await load_event_scope(occurrence.event_id)
    if scope is None:
        raise ExpansionError(f"event {occurrence.event_id} no longer exists")
    notifications = await load_notifications(scope.event_id)
    candidates = await load_candidates(notifications, scope.application_id)
    recipients = resolve_recipients(notifications, candidates, options, occurrence.context)
    if not recipients:
        return Plan(occurrence, scope, [])
    names = {notification.id: notification.name for notification in notifications}
    templates = await load_templates(scope.event_id)
    context = template_context(
        occurrence.context, {**scope.template_names(), "occurrence": occurrence_names(occurrence)}
    )

    planned: list[PlannedDelivery | None] = []
    jobs: list[RenderJob] = []
    to_render: list[int] = []
    for recipient in recipients:
        name = names[recipient.notification]
        channel = channels.channel(recipient.channel)
        if channel is None:
            planned.append(PlannedDelivery(recipient, name, DeliveryStatus.SKIPPED, DeliveryReason.CHANNEL_UNKNOWN,
                                           f"channel {recipient.channel!r} is not configured"))
            continue
        template = templates.get((recipient.notification, recipient.channel)) or templates.get(
            (None, recipient.channel)
        )
        if template is None:
            if type(channel).requires_template:
                planned.append(PlannedDelivery(recipient, name, DeliveryStatus.SKIPPED, DeliveryReason.NO_TEMPLATE,
                                               f"no template for channel {recipient.channel!r}"))
            else:
                planned.append(PlannedDelivery(recipient, name, DeliveryStatus.PENDING))
            continue
        recipient_names = {**recipient.user.as_recipient(), "address": recipient.address, "channel": recipient.channel}
        parts = frozenset(PARTS) & type(channel).capabilities
        to_render.append(len(planned))
        planned.append(None)
        jobs.append(RenderJob(template, recipient_names, parts))

    rendered = await renderer.render_many(jobs, context=context, tenant=scope.organization.slug)
    for index, result in zip(to_render, rendered, strict=True):
        recipient = recipients[index]
        name = names[recipient.notification]
        if isinstance(result, RenderError):
            planned[index] = PlannedDelivery(recipient, name, DeliveryStatus.FAILED, DeliveryReason.RENDER_ERROR, str(result))
        else:
            planned[index] = PlannedDelivery(recipient, name, DeliveryStatus.PENDING, message=result)
    return Plan(occurrence, scope, [item for item in planned if item is not None])
