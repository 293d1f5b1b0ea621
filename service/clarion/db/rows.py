"""Small helpers for writing rows through Piccolo: existence checks and inserts that may collide."""

import sqlite3
from typing import Any

import asyncpg
from piccolo.table import Table

from clarion.errors import Conflict

UNIQUE_VIOLATIONS = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)
"""What either engine raises when a unique index refuses a row."""


async def insert_unique(row: Table, duplicate: str) -> int:
    """Insert `row` (inside a unit of work); 409 `duplicate` when a unique key is taken."""
    try:
        inserted = await type(row).insert(row).returning(type(row)._meta.primary_key)
    except UNIQUE_VIOLATIONS:
        raise Conflict(duplicate) from None
    return inserted[0]["id"]  # type: ignore[no-any-return]


async def exists(table: type[Table], condition: Any) -> bool:
    return bool(await table.exists().where(condition))
