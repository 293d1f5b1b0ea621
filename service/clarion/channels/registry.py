"""Loading channel plugins and describing the configured channels."""

from collections.abc import Callable

import msgspec
from clarion_plugins import Channel, ChannelConfigError, PluginManager

from clarion.settings import ChannelSettings, PluginSettings, Settings

# Built-in channels are plugins like any other, named by module path (never imported here).
BUILTIN_PLUGINS = ("clarion_channels.email", "clarion_channels.webhook", "clarion_channels.apprise")


class ChannelInfo(msgspec.Struct, kw_only=True):
    name: str
    type: str
    enabled: bool
    plugin: str | None
    address_kinds: list[str]
    install: str | None = None
    """For a type whose plugin is unavailable: the command that installs what it needs."""


def load_plugins(plugins: PluginSettings) -> PluginManager:
    manager = PluginManager(builtins=BUILTIN_PLUGINS, disabled=plugins.disabled, strict=plugins.strict)
    manager.load()
    return manager


def create_channel(manager: PluginManager, name: str, settings: ChannelSettings) -> Channel:
    """Build the channel `[channels.NAME]`; its `ChannelConfigError` never repeats a secret value."""
    try:
        return manager.create_channel(name, settings.type, settings.options)
    except ChannelConfigError as exc:
        raise ChannelConfigError(settings.hide_secrets(str(exc))) from None


def describe_channels(settings: Settings, manager: PluginManager) -> list[ChannelInfo]:
    """Every configured channel with its type, state and the plugin providing it (None: type unknown)."""
    infos = []
    for name, channel in sorted(settings.channels.items()):
        channel_type = manager.channel_types.get(channel.type)
        infos.append(
            ChannelInfo(
                name=name,
                type=channel.type,
                enabled=channel.enabled,
                plugin=manager.type_sources.get(channel.type),
                address_kinds=sorted(channel_type.address_kinds) if channel_type else [],
                install=next(
                    (plugin.install for plugin in manager.unavailable if channel.type in plugin.channel_types), None
                ),
            )
        )
    return infos


def channel_address_kinds(settings: Settings, manager: PluginManager) -> dict[str, frozenset[str]]:
    """Channel name → the address kinds its type can reach (configured channels, enabled or not)."""
    return {info.name: frozenset(info.address_kinds) for info in describe_channels(settings, manager)}


def channel_secret_checks(settings: Settings, manager: PluginManager) -> dict[str, Callable[[str], None]]:
    """Channel name → its type's `check_secret` (configured channels whose type is loaded)."""
    checks = {}
    for name, channel in settings.channels.items():
        channel_type = manager.channel_types.get(channel.type)
        if channel_type is not None:
            checks[name] = channel_type.check_secret
    return checks
