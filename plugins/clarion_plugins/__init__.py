"""Clarion's public plugin API: everything a channel plugin imports."""

from clarion_plugins.addresses import AddressKind
from clarion_plugins.channel import Channel
from clarion_plugins.hookspecs import hookimpl
from clarion_plugins.manager import (
    ChannelConfigError,
    PluginLoadError,
    PluginLoadFailure,
    PluginManager,
    PluginUnavailable,
    UnavailablePlugin,
)
from clarion_plugins.messages import (
    Delivered,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    TransientFailure,
)

__all__ = [
    "AddressKind",
    "Channel",
    "ChannelConfigError",
    "Delivered",
    "OutboundMessage",
    "PermanentFailure",
    "PluginLoadError",
    "PluginLoadFailure",
    "PluginManager",
    "PluginUnavailable",
    "SendResult",
    "TransientFailure",
    "UnavailablePlugin",
    "hookimpl",
]
