"""Reading the running process's channels and plugins."""

from clarion.channels.schemas import ChannelOut, ChannelTypeOut, PluginFailureOut, PluginOut, PluginsOut
from clarion.pagination import Page, PageRequest, page_of_rows
from clarion.process import Runtime


def list_channels(runtime: Runtime, page: PageRequest) -> Page[ChannelOut]:
    """The configured channels as the running process has them (live toggles included), by name."""
    channels = [
        ChannelOut(name=name, slug=name, type=settings.type, enabled=settings.enabled)
        for name, settings in sorted(runtime.channels.settings().items())
    ]
    return page_of_rows(channels, page, key=lambda channel: channel.name)


def describe_plugins(runtime: Runtime) -> PluginsOut:
    plugins = runtime.plugins
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
    )
