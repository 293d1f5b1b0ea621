"""`clarion worker`: a process that only dispatches (no HTTP API)."""

import asyncio
import logging
import signal

from clarion.database import require_migrated
from clarion.process import open_runtime
from clarion.settings import Settings

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Dispatch until SIGTERM or SIGINT (or `stop` is set), then stop gracefully:
    sends in flight finish, their results are recorded, leases are given back."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    try:
        async with open_runtime(settings, dispatcher=True) as runtime:
            await require_migrated()
            assert runtime.dispatcher is not None
            logger.info("worker %s dispatching from %s", runtime.dispatcher.worker_id, _database_kind(settings))
            await stop.wait()
            logger.info("worker stopping")
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def _database_kind(settings: Settings) -> str:
    return settings.database.url.split(":", 1)[0]
