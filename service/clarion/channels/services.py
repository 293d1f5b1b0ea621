"""Reading the running process's channels and plugins, and what a configured channel accepts."""

from clarion.channels.runtime import ChannelSet
from clarion.channels.schemas import (
    ChannelOut,
    ChannelTypeOut,
    PluginFailureOut,
    PluginOut,
    PluginsOut,
    UnavailablePluginOut,
)
from clarion.errors import BadRequest
from clarion.pagination import Page, PageRequest, page_of_rows


def list_channels(channels: ChannelSet, page: PageRequest) -> Page[ChannelOut]:
    """The configured channels as the running process has them (live toggles included), by name."""
    configured = [
        ChannelOut(name=name, slug=name, type=settings.type, enabled=settings.enabled)
        for name, settings in sorted(channels.settings().items())
    ]
    return page_of_rows(configured, page, key=lambda channel: channel.name)


def describe_plugins(channels: ChannelSet) -> PluginsOut:
    plugins = channels.plugins
    return PluginsOut(
        plugins=[
            PluginOut(name=plugin.name, source=plugin.source, channel_types=list(plugin.channel_types))
            for plugin in plugins.plugins
        ],
        channel_types=[
            ChannelTypeOut(
                type=type_name,
                plugin=plugins.type_sources[type_name],
                address_kinds=sorted(channel_type.address_kinds),
                capabilities=sorted(channel_type.capabilities),
                requires_template=channel_type.requires_template,
            )
            for type_name, channel_type in sorted(plugins.channel_types.items())
        ],
        failures=[
            PluginFailureOut(name=failure.name, source=failure.source, error=failure.error)
            for failure in plugins.failures
        ],
        unavailable=[
            UnavailablePluginOut(
                name=plugin.name,
                source=plugin.source,
                reason=plugin.reason,
                install=plugin.install,
                channel_types=list(plugin.channel_types),
            )
            for plugin in plugins.unavailable
        ],
    )


def channel_kinds(channels: ChannelSet, channel: str, field: str) -> frozenset[str]:
    """The address kinds configured channel `channel` accepts; 400 naming `field` if it is not configured."""
    settings = channels.settings()
    if channels.state(channel) == "unknown" or channel not in settings:
        configured = ", ".join(sorted(settings)) or "none"
        raise BadRequest(f"{field}: channel {channel!r} is not configured (configured: {configured})")
    channel_type = channels.plugins.channel_types.get(settings[channel].type)
    return frozenset(channel_type.address_kinds) if channel_type is not None else frozenset()


def check_channel_secret(channels: ChannelSet, channel: str, secret: str, field: str) -> None:
    """400 naming `field` unless the type of configured channel `channel` accepts `secret`."""
    channel_type = channels.plugins.channel_types.get(channels.settings()[channel].type)
    if channel_type is None:
        return
    try:
        channel_type.check_secret(secret)
    except ValueError as exc:
        raise BadRequest(f"{field}: {exc}") from None


def channels_for_kind(channels: ChannelSet, kind: str) -> list[str]:
    """The enabled channels whose type accepts addresses of `kind`, by name."""
    names = []
    for name, settings in sorted(channels.settings().items()):
        channel_type = channels.plugins.channel_types.get(settings.type)
        if settings.enabled and channel_type is not None and kind in channel_type.address_kinds:
            names.append(name)
    return names
