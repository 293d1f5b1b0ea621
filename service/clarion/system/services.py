"""Operational checks."""

import asyncio
import logging

from clarion.organizations.tables import Organization

logger = logging.getLogger(__name__)


async def database_answers(timeout_s: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(Organization.raw("SELECT 1"), timeout_s)
    except Exception:
        logger.warning("readiness check: database did not answer", exc_info=True)
        return False
    return True
