"""What one Clarion process runs: the database engine, the channels, the dispatcher."""

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from clarion_plugins import PluginManager
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from clarion.channels.registry import load_plugins
from clarion.channels.reload import ConfigReloader, reloading
from clarion.channels.runtime import ChannelSet
from clarion.db.engine import ClarionEngine
from clarion.database import running_engine
from clarion.db.postgres import ClarionPostgresEngine
from clarion.dispatch.dispatcher import Dispatcher, dispatching
from clarion.dispatch.signals import WorkSignal
from clarion.rendering import RenderLimits, TemplateRenderer
from clarion.settings import Settings

logger = logging.getLogger(__name__)

# The PostgreSQL LISTEN/NOTIFY channel on which new work is announced.
WORK_CHANNEL = "clarion_work"


@dataclass
class Runtime:
    settings: Settings
    engine: ClarionEngine
    plugins: PluginManager
    channels: ChannelSet
    work_signal: WorkSignal
    renderer: TemplateRenderer = field(init=False)
    dispatcher: Dispatcher | None = field(default=None, init=False)
    """The dispatcher this process runs, if any (set by `dispatching`)."""

    def __post_init__(self) -> None:
        templates = self.settings.templates
        limits = RenderLimits(
            max_bytes=templates.max_bytes,
            max_output_bytes=templates.max_output_bytes,
            render_timeout_s=templates.render_timeout_s,
            worker_memory_mb=templates.worker_memory_mb,
        )
        self.renderer = TemplateRenderer(limits, workers=templates.workers)

    def use_settings(self, settings: Settings) -> None:
        """Adopt a reloaded configuration (only its channels differ from what is running)."""
        self.settings = settings

    async def announce_work(self) -> None:
        """Wake this process's dispatcher now, and on PostgreSQL every other process's too."""
        self.work_signal.notify()
        if isinstance(self.engine, ClarionPostgresEngine):
            await self.engine.run_ddl(f"NOTIFY {WORK_CHANNEL}")


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, *, dispatcher: bool) -> AsyncIterator[Runtime]:
    """Start the engine and channels (and the dispatcher when asked); stop them in reverse order."""
    plugins = load_plugins(settings.plugins)
    for failure in plugins.failures:
        logger.error("plugin %s failed to load: %s", failure.name, failure.error)
    async with running_engine(settings.database) as engine:
        channels = ChannelSet(plugins)
        await channels.apply(settings.channels)
        runtime = Runtime(settings, engine, plugins, channels, WorkSignal())
        reloader = ConfigReloader(settings, channels, on_reload=runtime.use_settings)
        try:
            async with reloading(reloader), dispatching(runtime, enabled=dispatcher):
                yield runtime
        finally:
            await runtime.renderer.close()
            await channels.aclose()


# How a handler asks for the process's runtime: `runtime: RuntimeDependency`.
RuntimeDependency = NamedDependency[SkipValidation[Runtime]]
