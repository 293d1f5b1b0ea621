"""What one Clarion process runs, built in one place: the engine, channels, renderer, dispatcher.

`open_runtime` starts them in order and stops them in reverse; `clarion serve`
(through the HTTP app's lifespan) and `clarion worker` (`run_worker`) are its
two users. Everything else is handed the parts it uses, never the whole.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from clarion_plugins import PluginManager

from clarion.channels.registry import load_plugins
from clarion.channels.reload import ConfigReloader, reloading
from clarion.channels.runtime import ChannelSet
from clarion.database import require_migrated, running_engine
from clarion.db.engine import ClarionEngine
from clarion.dispatch.dispatcher import Dispatcher
from clarion.events.directory import EventDirectory
from clarion.organizations.services import TenantDirectory
from clarion.probes import serving_probes
from clarion.rendering import RenderLimits, TemplateRenderer
from clarion.settings import Settings, TemplateSettings
from clarion.work import WorkAnnouncer, WorkSignal

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The long-lived objects of one process."""

    settings: Settings
    engine: ClarionEngine
    plugins: PluginManager
    channels: ChannelSet
    renderer: TemplateRenderer
    work: WorkAnnouncer
    tenants: TenantDirectory = field(init=False)
    """Organization, project and application slugs → refs (cached for `cache.directory_s`)."""
    events: EventDirectory = field(init=False)
    """Events resolved on top of `tenants` (cached likewise)."""
    dispatcher: Dispatcher | None = field(default=None)
    """The dispatcher this process runs, if any."""

    def __post_init__(self) -> None:
        ttl_s = self.settings.cache.directory_s
        self.tenants = TenantDirectory(ttl_s=ttl_s)
        self.events = EventDirectory(self.tenants, ttl_s=ttl_s)

    def use_settings(self, settings: Settings) -> None:
        """Adopt a reloaded configuration (only its channels differ from what is running)."""
        self.settings = settings

    async def announce_work(self) -> None:
        """Wake this process's dispatcher now, and on PostgreSQL every other process's too."""
        await self.work.announce()


def render_limits(templates: TemplateSettings) -> RenderLimits:
    return RenderLimits(
        max_bytes=templates.max_bytes,
        max_output_bytes=templates.max_output_bytes,
        render_timeout_s=templates.render_timeout_s,
        worker_memory_mb=templates.worker_memory_mb,
    )


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, *, dispatcher: bool) -> AsyncIterator[Runtime]:
    """Start the engine and channels (and the dispatcher when asked); stop them in reverse order."""
    plugins = load_plugins(settings.plugins)
    for failure in plugins.failures:
        logger.error("plugin %s failed to load: %s", failure.name, failure.error)
    for unavailable in plugins.unavailable:
        logger.info("plugin %s is unavailable: %s (install it with: %s)", unavailable.name, unavailable.reason, unavailable.install)
    async with running_engine(settings.database) as engine:
        channels = ChannelSet(plugins)
        await channels.apply(settings.channels)
        renderer = TemplateRenderer(render_limits(settings.templates), workers=settings.templates.workers)
        work = WorkAnnouncer(WorkSignal(), engine)
        runtime = Runtime(settings, engine, plugins, channels, renderer, work)
        reloader = ConfigReloader(settings, channels, on_reload=runtime.use_settings)
        try:
            async with reloading(reloader), _dispatching(runtime, enabled=dispatcher):
                yield runtime
        finally:
            await renderer.close()
            await channels.aclose()


def new_dispatcher(runtime: Runtime) -> Dispatcher:
    """A dispatcher (not started) on `runtime`'s channels, renderer and work signal."""
    return Dispatcher(
        runtime.settings,
        channels=runtime.channels,
        renderer=runtime.renderer,
        work=runtime.work,
        postgres=runtime.engine.engine_type == "postgres",
    )


@contextlib.asynccontextmanager
async def _dispatching(runtime: Runtime, *, enabled: bool) -> AsyncIterator[None]:
    """Run a dispatcher for `runtime` while inside (if `enabled`); stop it gracefully on the way out."""
    if not enabled:
        yield
        return
    dispatcher = new_dispatcher(runtime)
    runtime.dispatcher = dispatcher
    await dispatcher.start()
    try:
        yield
    finally:
        await dispatcher.stop()
        runtime.dispatcher = None


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`clarion worker`: dispatch until SIGTERM or SIGINT (or `stop` is set), then stop gracefully:
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
            async with serving_probes(settings, settings.worker.host, settings.worker.port):
                logger.info("worker %s dispatching from %s", runtime.dispatcher.worker_id,
                            settings.database.url.split(":", 1)[0])
                await stop.wait()
                logger.info("worker stopping")
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
