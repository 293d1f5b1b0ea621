"""Every hook a Clarion plugin can implement.

Hooks are synchronous and only register things; all I/O lives on channel
objects. New hooks may be added; a plugin implements only those it needs.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from clarion_plugins.addresses import AddressKind
from clarion_plugins.channel import Channel

PROJECT_NAME = "clarion"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_channel_types(register: Callable[[type[Channel]], None]) -> None:
    """Register the plugin's channel types.

    Called once per plugin when the plugin manager loads plugins, at service
    start and on configuration reload. Call `register(cls)` once for each
    `Channel` subclass the plugin provides. Returns nothing; a class that is not
    a valid channel type, or whose `type_name` is already taken, makes the whole
    plugin fail to load.
    """


@hookspec
def register_address_kinds(register: Callable[[AddressKind], None]) -> None:
    """Register the address kinds the plugin adds (e.g. `apprise`, whose values are Apprise URLs).

    Called once per plugin when plugins are loaded, before `register_channel_types`, so a
    plugin's channel types (and those of plugins loaded after it) may name its kinds in
    `address_kinds`. Call `register(kind)` once for each `AddressKind` instance. Returns
    nothing; an invalid kind, or a name already taken, makes the whole plugin fail to load.
    """
