"""Bodies about occurrences: the trigger body (SPEC §4, shared by the trigger, preview and the
dispatcher) and what the observability API answers (SPEC §3.3)."""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from clarion.occurrences.statuses import OccurrenceStatus
from clarion.schemas import ChannelName, JsonObject, Request, Response

FilterRules = JsonObject | list[JsonObject]
Names = Annotated[list[Annotated[str, Meta(min_length=1, max_length=2048)]], Meta(max_length=1000)]


# The user fields a filter rule may name (plus `custom_fields.<key>`).
FILTER_FIELDS = frozenset({"username", "email", "first_name", "last_name"})
CUSTOM_FIELDS_PREFIX = "custom_fields."


class TriggerFilters(Request, omit_defaults=True):
    """Rules over user fields; `include` empty or missing means everyone, `exclude` empty excludes no one."""

    include: FilterRules | None = None
    exclude: FilterRules | None = None


class TriggerOptions(Request, omit_defaults=True):
    """Encoded (and stored with the occurrence) without the options that were not given."""

    channels: Annotated[list[ChannelName], Meta(max_length=100)] | None = None
    limit_to: Names | None = None
    environs: Names | None = None
    filters: TriggerFilters | None = None


class TriggerRequest(Request):
    context: JsonObject = msgspec.field(default_factory=dict)
    options: TriggerOptions = msgspec.field(default_factory=TriggerOptions)


def filter_rules_error(filters: TriggerFilters | None) -> str | None:
    """What is wrong with the rules' field names (as `options.filters.…: …`), or None."""
    if filters is None:
        return None
    for part in ("include", "exclude"):
        rules = getattr(filters, part)
        if rules is None:
            continue
        listed = isinstance(rules, list)
        for index, rule in enumerate(rules if listed else [rules]):
            where = f"options.filters.{part}" + (f"[{index}]" if listed else "")
            for field in rule:
                custom = field.startswith(CUSTOM_FIELDS_PREFIX) and len(field) > len(CUSTOM_FIELDS_PREFIX)
                if field not in FILTER_FIELDS and not custom:
                    return (
                        f"{where}.{field}: unknown user field"
                        " (use username, email, first_name, last_name or custom_fields.<key>)"
                    )
    return None


class TriggerResponse(Response, omit_defaults=True):
    """The 201 of a trigger; `paused` is present (true) only when the event or a parent is paused."""

    occurrence: str
    paused: bool | UnsetType = UNSET


def decode_options(stored: Any) -> TriggerOptions:
    """An occurrence's stored `options` (already validated when it was accepted)."""
    return msgspec.convert(stored or {}, TriggerOptions)


OCCURRENCE_STATUSES = tuple(OccurrenceStatus)


class DeliveryOut(Response):
    """One message of an occurrence: where it went and how it went."""

    id: str
    channel: str
    address: str
    notification: int
    notification_name: str
    username: str
    status: str
    attempts: int
    reason: str | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    provider_id: str | None
    created: datetime
    updated: datetime


class OccurrenceOut(Response):
    """An occurrence as the list shows it."""

    id: str
    event: str
    status: str
    recipients: int
    correlation_id: str | None
    error: str | None
    created: datetime
    updated: datetime
    context: JsonObject
    options: JsonObject


class OccurrenceDetail(OccurrenceOut, kw_only=True):
    """An occurrence with every delivery it expanded into."""

    deliveries: list[DeliveryOut]


class PreviewMessage(Response):
    """A message a trigger would produce: to whom, on which channel, what it would say, or why not."""

    notification: int
    notification_name: str
    channel: str
    address: str
    username: str
    status: str
    """`pending` (it would be sent), or already `skipped` / `failed` at expansion."""
    reason: str | None
    error: str | None
    subject: str | None
    text: str | None
    html: str | None


class PreviewOut(Response):
    """What a trigger with this body would do now: nothing was stored or sent."""

    event: str
    paused: bool
    recipients: int
    messages: list[PreviewMessage]
    context: dict[str, Any]
