"""The channel instances of a running process: opened from settings, sent through, reloaded live."""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Literal

import msgspec
from clarion_plugins import (
    Channel,
    Delivered,
    OutboundMessage,
    PermanentFailure,
    PluginManager,
    SendResult,
    TransientFailure,
)

from clarion.channels.addresses import AddressKinds
from clarion.channels.registry import create_channel
from clarion.metrics.registry import record_send_seconds
from clarion.settings import ChannelSettings

logger = logging.getLogger(__name__)

ChannelState = Literal["enabled", "disabled", "unknown"]


class ChannelUnavailable(msgspec.Struct, frozen=True):
    """The message was not handed to a channel: `reason` is `channel_disabled` or `channel_unknown`."""

    reason: str


class _Instance:
    """One opened channel and the semaphore bounding its concurrent sends."""

    def __init__(self, settings: ChannelSettings, channel: Channel) -> None:
        self.settings = settings
        self.channel = channel
        self.permits = asyncio.Semaphore(settings.max_concurrency)

    async def retire(self) -> None:
        """Close once every send in flight has finished."""
        for _ in range(self.settings.max_concurrency):
            await self.permits.acquire()
        try:
            await self.channel.aclose()
        except Exception:
            logger.exception("closing channel %r failed", self.channel.name)


class ChannelSet:
    """The configured channels by name. `apply()` swaps in a new configuration without a restart."""

    def __init__(self, plugins: PluginManager) -> None:
        self.plugins = plugins
        self.address_kinds = AddressKinds(plugins.address_kinds)
        """The address kinds of this process (built-in and from plugins): new addresses, and how they are shown."""
        self._instances: dict[str, _Instance] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def state(self, name: str) -> ChannelState:
        instance = self._instances.get(name)
        if instance is None:
            return "unknown"
        return "enabled" if instance.settings.enabled else "disabled"

    def channel(self, name: str) -> Channel | None:
        instance = self._instances.get(name)
        return instance.channel if instance else None

    def settings(self) -> dict[str, ChannelSettings]:
        return {name: instance.settings for name, instance in self._instances.items()}

    async def apply(self, channels: Mapping[str, ChannelSettings]) -> None:
        """Make the running channels match `channels`.

        New and changed channels are created first, so a bad options table
        raises `ChannelConfigError` before anything changes. A channel whose
        type, options or concurrency changed is re-opened; one that only
        changed `enabled` keeps its connections. Replaced and removed channels
        are closed after their in-flight sends finish.
        """
        created: dict[str, Channel] = {}
        for name, settings in channels.items():
            current = self._instances.get(name)
            if current is None or _needs_reopen(current.settings, settings):
                created[name] = create_channel(self.plugins, name, settings)
        for name, channel in created.items():
            try:
                await channel.open()
            except Exception:
                logger.exception("opening channel %r failed; its sends will fail until it recovers", name)
        instances: dict[str, _Instance] = {}
        for name, settings in channels.items():
            if name in created:
                instances[name] = _Instance(settings, created[name])
            else:
                instance = self._instances[name]
                instance.settings = settings
                instances[name] = instance
        retired = [
            instance
            for name, instance in self._instances.items()
            if instances.get(name) is not instance
        ]
        self._instances = instances
        for instance in retired:
            task = asyncio.create_task(instance.retire())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def send(self, name: str, message: OutboundMessage) -> SendResult | ChannelUnavailable:
        """Send through channel `name`, at most `max_concurrency` at a time; a raised exception is transient."""
        instance = self._instances.get(name)
        if instance is None:
            return ChannelUnavailable("channel_unknown")
        if not instance.settings.enabled:
            return ChannelUnavailable("channel_disabled")
        async with instance.permits:
            started = time.perf_counter()
            try:
                result = await instance.channel.send(message)
            except Exception as exc:
                logger.warning("channel %r raised while sending %s", name, message.delivery_id, exc_info=True)
                return TransientFailure(f"{type(exc).__name__}: {exc}")
            finally:
                record_send_seconds(name, time.perf_counter() - started)
        if not isinstance(result, (Delivered, PermanentFailure, TransientFailure)):
            return TransientFailure(f"channel returned {type(result).__name__}, not a send result")
        return result

    async def aclose(self) -> None:
        instances, self._instances = self._instances, {}
        await asyncio.gather(*(instance.retire() for instance in instances.values()), *self._retiring)


def _needs_reopen(old: ChannelSettings, new: ChannelSettings) -> bool:
    return (old.type, old.options, old.max_concurrency) != (new.type, new.options, new.max_concurrency)
