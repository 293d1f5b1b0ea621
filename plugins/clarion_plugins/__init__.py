"""Clarion's public plugin API: everything a channel plugin imports."""

from clarion_plugins.channel import Channel
from clarion_plugins.hookspecs import hookimpl
from clarion_plugins.manager import (
    ChannelConfigError,
    PluginLoadError,
    PluginLoadFailure,
    PluginManager,
)
from clarion_plugins.messages import (
    Delivered,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    TransientFailure,
)

__all__ = [
    "Channel",
    "ChannelConfigError",
    "Delivered",
    "OutboundMessage",
    "PermanentFailure",
    "PluginLoadError",
    "PluginLoadFailure",
    "PluginManager",
    "SendResult",
    "TransientFailure",
    "hookimpl",
]
