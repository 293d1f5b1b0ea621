"""Waking dispatchers the moment there is work, instead of waiting for their next poll.

`WorkSignal` wakes this process's dispatcher; `WorkAnnouncer` also wakes every
other process's on PostgreSQL (`NOTIFY clarion_work`, which dispatchers
`LISTEN` to). Whoever commits new work (a trigger, a retry becoming due)
announces it.
"""

import asyncio
import contextlib

from clarion.db.engine import ClarionEngine
from clarion.db.postgres import ClarionPostgresEngine

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
