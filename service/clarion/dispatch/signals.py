"""Waking the dispatcher the moment there is work, instead of waiting for its next poll."""

import asyncio
import contextlib


class WorkSignal:
    """Set by whoever commits new work (a trigger, a retry becoming due); awaited by the dispatcher."""

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
