"""Channels and plugins as the API shows them."""

from clarion.schemas import Response


class ChannelOut(Response):
    name: str
    slug: str
    type: str
    enabled: bool


class ChannelTypeOut(Response):
    type: str
    plugin: str
    address_kinds: list[str]
    capabilities: list[str]
    requires_template: bool


class PluginOut(Response):
    name: str
    source: str
    channel_types: list[str]


class PluginFailureOut(Response):
    name: str
    source: str
    error: str


class UnavailablePluginOut(Response):
    name: str
    source: str
    reason: str
    install: str
    channel_types: list[str]


class PluginsOut(Response):
    plugins: list[PluginOut]
    channel_types: list[ChannelTypeOut]
    failures: list[PluginFailureOut]
    unavailable: list[UnavailablePluginOut]
