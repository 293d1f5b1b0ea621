"""Shared msgspec bases and constrained types used at every boundary."""

from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from msgspec import Meta

Slug = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Name = Annotated[str, Meta(min_length=1, max_length=255)]
Username = Annotated[str, Meta(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]
AddressName = Annotated[str, Meta(min_length=1, max_length=100)]
AddressValue = Annotated[str, Meta(min_length=1, max_length=2048)]
AddressKindName = Annotated[str, Meta(min_length=1, max_length=16)]
ChannelName = Annotated[str, Meta(min_length=1, max_length=63)]
JsonObject = dict[str, Any]

# Row ids are PostgreSQL `serial` / `integer` (int4) columns; SQLite's are wider, but one range
# for both engines keeps the API the same on each. A larger id cannot exist: 404 in a path, 400 in a body.
MAX_ID = 2**31 - 1
Id = Annotated[int, Meta(ge=1, le=MAX_ID)]


def is_row_id(value: int) -> bool:
    """Whether a row could have this id (1 to `MAX_ID`)."""
    return 1 <= value <= MAX_ID


def check_utc_representable(value: datetime | None, field: str) -> None:
    """ValueError naming `field` when `value` has no UTC equivalent (9999-12-31T23:59:59-14:00 is past year 9999).

    Call it from a Struct's `__post_init__`: msgspec turns the ValueError into a ValidationError.
    """
    if value is None or value.tzinfo is None:
        return
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{field}: out of range: in UTC it must fall between years 1 and 9999") from None


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are an error."""


class Response(msgspec.Struct, kw_only=True):
    """Base of every response body: clients must tolerate new fields."""
