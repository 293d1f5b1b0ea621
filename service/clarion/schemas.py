"""Shared msgspec bases and constrained types used at every boundary."""

from typing import Annotated, Any

import msgspec
from msgspec import Meta

Slug = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Name = Annotated[str, Meta(min_length=1, max_length=255)]
Username = Annotated[str, Meta(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]
AddressName = Annotated[str, Meta(min_length=1, max_length=100)]
AddressValue = Annotated[str, Meta(min_length=1, max_length=2048)]
ChannelName = Annotated[str, Meta(min_length=1, max_length=63)]
JsonObject = dict[str, Any]


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are an error."""


class Response(msgspec.Struct, kw_only=True):
    """Base of every response body: clients must tolerate new fields."""
