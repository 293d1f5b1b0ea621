"""Helpers shared by test modules (import from here, not from conftest: several conftests exist)."""

import os
import socket
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ENGINE = os.environ.get("CLARION_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get("CLARION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def problem(status: int, detail: str, **extensions: object) -> dict[str, object]:
    """The RFC 9457 body every error answer carries (`clarion.http.problems`)."""
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extensions}


def clarion_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "clarion", *args]


# The API's caches live this long in tests (`[cache]` of BASE_CONFIG); waiting CACHE_EXPIRY_S sees a change.
CACHE_LIFETIME_S = 0.2
CACHE_EXPIRY_S = 0.3

BASE_CONFIG = f"""
[cache]
api_keys_s = {CACHE_LIFETIME_S}
directory_s = {CACHE_LIFETIME_S}

[dispatch]
backoff_base_s = 0.05
backoff_max_s = 0.5
lease_s = 5
poll_interval_s = 0.05

[channels.email]
type = "email"
enabled = true
[channels.email.options]
host = "127.0.0.1"
port = 1
sender = "Clarion <clarion@localhost>"

[channels.webhook]
type = "webhook"
enabled = true
[channels.webhook.options]
allow_private_targets = true
"""


# Columns a request may touch without changing anything it was asked to: the time a key was last used.
VOLATILE_COLUMNS = frozenset({"last_used_at"})


async def stored_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (without `VOLATILE_COLUMNS`), by table, in key order: compare a
    snapshot taken before a refused write with one taken after to prove it changed nothing."""
    from clarion.tables import ALL_TABLES

    snapshot = {}
    for table in ALL_TABLES:
        rows = await table.select().order_by(table._meta.primary_key)
        snapshot[table._meta.tablename] = [
            {column: value for column, value in row.items() if column not in VOLATILE_COLUMNS} for row in rows
        ]
    return snapshot
