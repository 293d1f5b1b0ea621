"""Helpers for hand-written SQL that runs unchanged on SQLite and PostgreSQL (Piccolo `raw`)."""

import functools
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec


def placeholders(count: int) -> str:
    """`{}, {}, …`: `count` of Piccolo's placeholders, e.g. for `IN (…)`."""
    return ", ".join(["{}"] * count)


@functools.lru_cache(maxsize=512)
def compiled_sql(statement: str, style: Literal["?", "$"]) -> str:
    """`statement` with Piccolo's `{}` placeholders as the driver's: `?` (sqlite3) or `$1, $2, …` (asyncpg)."""
    count = statement.count("{}")
    return statement.format(*(["?"] * count if style == "?" else [f"${number}" for number in range(1, count + 1)]))


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_datetime(value: Any) -> datetime:
    """A timestamp as read back (a datetime, or text from SQLite RETURNING), in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def decode_json(value: Any, default: Any) -> Any:
    """A JSON column as read back: text on SQLite and PostgreSQL (raw queries), or already decoded."""
    if value is None:
        return default
    if isinstance(value, (str, bytes)):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            return default
    return value
