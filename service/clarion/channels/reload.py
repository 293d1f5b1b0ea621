"""Live reconfiguration: the config file is re-read on SIGHUP and when it changes on disk.

Only `[channels.*]` take effect live. A change to any other section is logged
as "restart needed". A file that does not load, or whose channel options do not
decode, is refused with one clear log line and the running configuration stays.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
from clarion_plugins import ChannelConfigError

from clarion.channels.runtime import ChannelSet
from clarion.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5


class ConfigReloader:
    """Keeps `channels` in step with the configuration file `settings.source`."""

    def __init__(
        self,
        settings: Settings,
        channels: ChannelSet,
        on_reload: Callable[[Settings], None] = lambda settings: None,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.on_reload = on_reload
        self.path = Path(settings.source)
        self._lock = asyncio.Lock()
        self._fingerprint = _fingerprint(self.path)

    async def reload(self) -> bool:
        """Re-read the file and apply its channels; False (and the old config kept) if it is invalid."""
        async with self._lock:
            self._fingerprint = _fingerprint(self.path)
            try:
                new = load_settings(self.path)
                await self.channels.apply(new.channels)
            except (SettingsError, ChannelConfigError) as exc:
                logger.error(
                    "configuration %s rejected, keeping the previous one: %s", self.path, exc
                )
                return False
            changed = [
                section
                for section in Settings.__struct_fields__
                if section not in ("channels", "secret_paths", "source")
                and getattr(new, section) != getattr(self.settings, section)
            ]
            if changed:
                logger.warning(
                    "configuration %s: change to %s takes effect after a restart (restart needed)",
                    self.path,
                    ", ".join(changed),
                )
            self.settings = msgspec.structs.replace(self.settings, channels=new.channels)
            self.on_reload(self.settings)
            logger.info(
                "configuration %s reloaded: channels %s",
                self.path,
                ", ".join(f"{name} ({'on' if c.enabled else 'off'})" for name, c in sorted(new.channels.items()))
                or "none",
            )
            return True

    async def watch(self) -> None:
        """Poll the file for changes (content, size, mtime or inode) until cancelled."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if _fingerprint(self.path) != self._fingerprint:
                await self.reload()


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@contextlib.asynccontextmanager
async def reloading(reloader: ConfigReloader) -> AsyncIterator[None]:
    """Watch the file and listen for SIGHUP while the context is open."""
    if not reloader.path.is_file():
        yield
        return
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[bool]] = set()

    def on_sighup() -> None:
        task = loop.create_task(reloader.reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    sighup = False
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        sighup = True
    watcher = asyncio.create_task(reloader.watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if sighup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()


