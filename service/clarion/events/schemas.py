"""The trigger body (SPEC §4): shared by the trigger endpoint, preview and the dispatcher."""

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from clarion.schemas import ChannelName, JsonObject, Request

FilterRules = JsonObject | list[JsonObject]
Names = Annotated[list[Annotated[str, Meta(min_length=1, max_length=2048)]], Meta(max_length=1000)]


class TriggerFilters(Request):
    """Rules over user fields; `include` empty or missing means everyone, `exclude` empty excludes no one."""

    include: FilterRules | None = None
    exclude: FilterRules | None = None


class TriggerOptions(Request):
    channels: Annotated[list[ChannelName], Meta(max_length=100)] | None = None
    limit_to: Names | None = None
    environs: Names | None = None
    filters: TriggerFilters | None = None


class TriggerRequest(Request):
    context: JsonObject = msgspec.field(default_factory=dict)
    options: TriggerOptions = msgspec.field(default_factory=TriggerOptions)


def decode_options(stored: Any) -> TriggerOptions:
    """An occurrence's stored `options` (already validated when it was accepted)."""
    return msgspec.convert(stored or {}, TriggerOptions)
