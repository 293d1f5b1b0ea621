"""Waking dispatchers the moment there is work, instead of waiting for their next poll.

`WorkSignal` wakes this process's dispatcher; `WorkAnnouncer` also wakes every
other process's on PostgreSQL (`NOTIFY clarion_work`, which dispatchers
`LISTEN` to). Whoever commits new work (a trigger, a retry becoming due)
announces it.
"""

import asyncio
import contextlib
import logging

import asyncpg

from clarion.db.engine import ClarionEngine
from clarion.db.postgres import ClarionPostgresEngine

logger = logging.getLogger(__name__)

WORK_CHANNEL = "clarion_work"
"""The PostgreSQL LISTEN/NOTIFY channel on which new work is announced."""


class WorkSignal:
    """Set when there is new work; awaited by the dispatcher."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True if notified within `timeout` seconds; clears the signal either way."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        notified = self._event.is_set()
        self._event.clear()
        return notified


class WorkAnnouncer:
    """Announces committed work to this process's dispatcher and, on PostgreSQL, to every other."""

    def __init__(self, signal: WorkSignal, engine: ClarionEngine) -> None:
        self.signal = signal
        self._notify_others = isinstance(engine, ClarionPostgresEngine)
        self._engine = engine

    async def announce(self) -> None:
        self.signal.notify()
        if self._notify_others:
            await self._engine.run_ddl(f"NOTIFY {WORK_CHANNEL}")


async def listen_for_work(database_url: str, signal: WorkSignal, poll_interval_s: float) -> None:
    """PostgreSQL: a dedicated connection LISTENs for work announced by other processes, until cancelled."""
    delay = 0.5
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(database_url)
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _, lost=lost: lost.set())
            await connection.add_listener(WORK_CHANNEL, lambda *_: signal.notify())
            signal.notify()  # anything announced while not listening
            delay = 0.5
            await lost.wait()
            logger.warning("LISTEN connection lost; reconnecting")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("LISTEN %s failed (%s); polling every %ss meanwhile", WORK_CHANNEL, exc,
                           poll_interval_s)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        finally:
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
