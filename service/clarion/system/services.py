"""Operational checks."""

import asyncio
import logging

from clarion.db.engine import write_transaction
from clarion.db.failures import FULL, UNREACHABLE, storage_problem
from clarion.db.sqlite import ClarionSQLiteEngine
from clarion.organizations.tables import Organization

logger = logging.getLogger(__name__)


async def database_problem(timeout_s: float = 2.0) -> str | None:
    """None when the database answers and would take a write now; else what is wrong (for `/ready/`)."""
    try:
        problem = await asyncio.wait_for(_probe_writes(), timeout_s)
    except TimeoutError:
        problem = f"the database did not answer within {timeout_s:g} s"
    except Exception as exc:
        problem = storage_problem(exc) or UNREACHABLE
        logger.warning("readiness check: %s", problem, exc_info=True)
        return problem
    if problem:
        logger.warning("readiness check: %s", problem)
    return problem


async def _probe_writes() -> str | None:
    """A unit of work that writes nothing but is refused by a read-only database.

    On SQLite it also checks the page limit and rewrites the header with its own value,
    so the COMMIT needs room on the disk.
    """
    engine = Organization._meta.db
    table = Organization._meta.tablename
    async with write_transaction():
        await Organization.raw(f"UPDATE {table} SET id = id WHERE 1 = 0")
        if not isinstance(engine, ClarionSQLiteEngine):
            return None
        pages = await Organization.raw(
            "SELECT (SELECT page_count FROM pragma_page_count()) AS used,"
            " (SELECT max_page_count FROM pragma_max_page_count()) AS most,"
            " (SELECT freelist_count FROM pragma_freelist_count()) AS free,"
            " (SELECT user_version FROM pragma_user_version()) AS version"
        )
        await Organization.raw(f"PRAGMA user_version = {int(pages[0]['version'])}")
    if pages[0]["used"] >= pages[0]["most"] and not pages[0]["free"]:
        return FULL
    return None
