"""Pending occurrences written straight into a migrated database, the way `trigger` stores them.

The rows match `service/clarion/occurrences/tables.py` (`Occurrence`) and the
trigger's own INSERT: a ULID id, the event's id, the context and options as
JSON text, status `pending`, 0 recipients, created = updated = now. A
dispatcher started afterwards finds them by polling, as it finds work another
process stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from datetime import UTC, datetime

import harness

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CONTEXT = json.dumps({"order_id": "A1", "amount": "10.00", "customer": {"id": 42, "tier": "gold"}},
                     separators=(",", ":"))
COLUMNS = ("id", "event", "context", "options", "status", "recipients", "created", "updated")


def ulids(count: int) -> list[str]:
    """`count` ULIDs of this millisecond, in order (the random part counts up)."""
    now_ms = time.time_ns() // 1_000_000
    start = int.from_bytes(os.urandom(10), "big") >> 24 << 24
    ids = []
    for n in range(count):
        value = (now_ms << 80) | (start + n)
        chars = []
        for _ in range(26):
            chars.append(_ALPHABET[value & 31])
            value >>= 5
        ids.append("".join(reversed(chars)))
    return ids


def insert_backlog(clarion: harness.Clarion, event: str, count: int) -> float:
    """Insert `count` pending occurrences of `event`; returns the seconds it took."""
    started = time.perf_counter()
    event_id = clarion.event_id(event)
    now = datetime.now(UTC)
    rows = [(occurrence, event_id, CONTEXT, "{}", "pending", 0, now, now) for occurrence in ulids(count)]
    if clarion.database_url.startswith("sqlite"):
        stamp = now.isoformat(" ")
        connection = sqlite3.connect(clarion.sqlite_path, timeout=60)
        try:
            with connection:
                connection.executemany(
                    f"INSERT INTO occurrence ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    [(*row[:6], stamp, stamp) for row in rows])
        finally:
            connection.close()
    else:
        asyncio.run(_copy_postgres(clarion.database_url, rows))
    return time.perf_counter() - started


async def _copy_postgres(url: str, rows: list[tuple[object, ...]]) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table("occurrence", records=rows, columns=list(COLUMNS))
    finally:
        await connection.close()
