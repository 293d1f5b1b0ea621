"""Loads channel plugins (built-in modules and `clarion` entry points) and builds channels."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import msgspec
import pluggy

from clarion_plugins import hookspecs
from clarion_plugins.addresses import BUILTIN_ADDRESS_KINDS, AddressKind, address_kind_problems
from clarion_plugins.channel import Channel, channel_class_problems

logger = logging.getLogger(__name__)


class ChannelConfigError(ValueError):
    """A `[channels.NAME]` table names an unknown type or carries invalid options."""


class PluginLoadFailure(msgspec.Struct, kw_only=True, frozen=True):
    """A plugin that could not be loaded, and why."""

    name: str
    """The entry-point name, or the module path of a built-in."""
    source: str
    """Where it came from: the module path, or "NAME (DIST VERSION)" for an entry point."""
    error: str


class PluginUnavailable(Exception):
    """Raise it while a plugin is imported when an optional dependency it needs is not installed.

    The plugin is then listed as unavailable, with `install` (the command that makes it
    available), instead of failing to load: it is not fatal, even with `strict`.
    """

    def __init__(self, reason: str, *, install: str, channel_types: Sequence[str] = ()) -> None:
        super().__init__(f"{reason} (install it with: {install})")
        self.reason = reason
        self.install = install
        self.channel_types = tuple(channel_types)


class UnavailablePlugin(msgspec.Struct, kw_only=True, frozen=True):
    """A plugin that is there but needs something installed first."""

    name: str
    source: str
    reason: str
    install: str
    """The command that makes it available, e.g. "pip install 'clarion[apprise]'"."""
    channel_types: tuple[str, ...] = ()
    """The channel types it would provide."""


class PluginLoadError(RuntimeError):
    """Raised by `PluginManager.load()` in strict mode when a plugin fails to load."""

    def __init__(self, failure: PluginLoadFailure) -> None:
        super().__init__(f"plugin {failure.name!r} ({failure.source}) failed to load: {failure.error}")
        self.failure = failure


class PluginInfo(msgspec.Struct, kw_only=True, frozen=True):
    """A loaded plugin and the channel types it registered."""

    name: str
    source: str
    channel_types: tuple[str, ...]


class InvalidChannelType(Exception):
    """A plugin registered something that cannot be a channel type."""


class InvalidAddressKind(Exception):
    """A plugin registered something that cannot be an address kind."""


class UnknownHook(Exception):
    """A plugin implements a hook that no hookspec names (a misspelt hook would never be called)."""


class PluginManager:
    """Finds channel types: built-in modules first, then the `clarion` entry points.

    A plugin that fails to load is recorded in `failures` and logged; with
    `strict=True`, `load()` raises `PluginLoadError` instead. A plugin that raises
    `PluginUnavailable` on import is recorded in `unavailable`, never fatal.
    """

    def __init__(
        self,
        builtins: Sequence[str] = (),
        disabled: Collection[str] = (),
        strict: bool = False,
        entry_points: bool = True,
    ) -> None:
        self._builtins = tuple(builtins)
        self._disabled = frozenset(disabled)
        self._strict = strict
        self._use_entry_points = entry_points
        self._loaded = False
        self.hooks = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.hooks.add_hookspecs(hookspecs)
        self.channel_types: dict[str, type[Channel]] = {}
        self.type_sources: dict[str, str] = {}
        self.address_kinds: dict[str, AddressKind] = {}
        """Address kinds plugins registered, by name (the built-in kinds are not in it)."""
        self.failures: list[PluginLoadFailure] = []
        self.unavailable: list[UnavailablePlugin] = []
        self.plugins: list[PluginInfo] = []

    def load(self) -> None:
        """Load every plugin once; later calls do nothing."""
        if self._loaded:
            return
        self._loaded = True
        for module_path in self._builtins:
            if module_path in self._disabled:
                logger.info("built-in plugin %s is disabled", module_path)
                continue
            self._load_plugin(
                module_path, module_path, functools.partial(importlib.import_module, module_path)
            )
        if not self._use_entry_points:
            return
        for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
            if entry_point.name in self._disabled:
                logger.info("plugin %s is disabled; not imported", entry_point.name)
                continue
            self._load_plugin(entry_point.name, describe_entry_point(entry_point), entry_point.load)

    def create_channel(self, name: str, type_name: str, options: Mapping[str, Any] | None) -> Channel:
        """Build the channel `[channels.NAME]` of type `type_name`; raises `ChannelConfigError`."""
        channel_cls = self.channel_types.get(type_name)
        if channel_cls is None:
            for plugin in self.unavailable:
                if type_name in plugin.channel_types:
                    raise ChannelConfigError(
                        f"channels.{name}.type: channel type {type_name!r} is not available: {plugin.reason}"
                        f" (install it with: {plugin.install})"
                    )
            known = ", ".join(sorted(self.channel_types)) or "none"
            raise ChannelConfigError(
                f"channels.{name}.type: unknown channel type {type_name!r} (known: {known})"
            )
        decoded = decode_channel_options(name, channel_cls, options)
        try:
            return channel_cls(name, decoded)
        except Exception as exc:
            raise ChannelConfigError(f"channels.{name}: {type(exc).__name__}: {exc}") from exc

    def _load_plugin(self, name: str, source: str, load: Callable[[], object]) -> None:
        try:
            plugin = load()
            if any(plugin is registered for registered in self.hooks.get_plugins()):
                logger.debug("plugin %s (%s) is already registered", name, source)
                return
            address_kinds, channel_types = self._register(name, plugin)
        except PluginUnavailable as exc:
            self.unavailable.append(
                UnavailablePlugin(
                    name=name,
                    source=source,
                    reason=exc.reason,
                    install=exc.install,
                    channel_types=exc.channel_types,
                )
            )
            logger.warning("plugin %s (%s) is not available: %s", name, source, exc)
            return
        except Exception as exc:
            failure = PluginLoadFailure(name=name, source=source, error=f"{type(exc).__name__}: {exc}")
            self.failures.append(failure)
            logger.error("plugin %s (%s) failed to load: %s", name, source, failure.error, exc_info=exc)
            if self._strict:
                raise PluginLoadError(failure) from exc
            return
        for kind in address_kinds:
            self.address_kinds[kind.name] = kind
        for channel_cls in channel_types:
            self.channel_types[channel_cls.type_name] = channel_cls
            self.type_sources[channel_cls.type_name] = source
        type_names = tuple(channel_cls.type_name for channel_cls in channel_types)
        self.plugins.append(PluginInfo(name=name, source=source, channel_types=type_names))
        logger.info("plugin %s (%s) loaded: channel types %s", name, source, ", ".join(type_names) or "none")

    def _register(self, name: str, plugin: object) -> tuple[list[AddressKind], list[type[Channel]]]:
        """Register `plugin` with pluggy and collect its address kinds and channel types; all or nothing."""
        self.hooks.register(plugin, name=name)
        try:
            # A hook implementation whose name no hookspec has (`register_channel_type`) would
            # never be called: the plugin would load and do nothing.
            try:
                self.hooks.check_pending()
            except pluggy.PluginValidationError as exc:
                known = ", ".join(sorted(n for n, caller in vars(self.hooks.hook).items() if caller.has_spec()))
                raise UnknownHook(f"{exc} (known hooks: {known})") from None
            others = [other for other in self.hooks.get_plugins() if other is not plugin]
            kinds: list[AddressKind] = []
            self.hooks.subset_hook_caller("register_address_kinds", remove_plugins=others)(register=kinds.append)
            self._check_address_kinds(kinds)
            offered: list[type[Channel]] = []
            self.hooks.subset_hook_caller("register_channel_types", remove_plugins=others)(
                register=offered.append
            )
            reachable = BUILTIN_ADDRESS_KINDS | set(self.address_kinds) | {kind.name for kind in kinds}
            seen: set[str] = set()
            for channel_cls in offered:
                if problems := channel_class_problems(channel_cls, reachable):
                    raise InvalidChannelType(f"{channel_cls!r}: {'; '.join(problems)}")
                type_name = channel_cls.type_name
                if type_name in self.channel_types or type_name in seen:
                    taken_by = self.type_sources.get(type_name, name)
                    raise InvalidChannelType(
                        f"channel type {type_name!r} is already registered by {taken_by}"
                    )
                seen.add(type_name)
        except BaseException:
            self.hooks.unregister(plugin)
            raise
        return kinds, offered

    def _check_address_kinds(self, kinds: list[AddressKind]) -> None:
        seen: set[str] = set()
        for kind in kinds:
            if problems := address_kind_problems(kind):
                raise InvalidAddressKind(f"{kind!r}: {'; '.join(problems)}")
            if kind.name in self.address_kinds or kind.name in seen:
                raise InvalidAddressKind(f"address kind {kind.name!r} is already registered")
            seen.add(kind.name)


def describe_entry_point(entry_point: importlib.metadata.EntryPoint) -> str:
    """ "NAME (DIST VERSION)", or "NAME (VALUE)" when the distribution is unknown."""
    dist = entry_point.dist
    if dist is None:
        return f"{entry_point.name} ({entry_point.value})"
    return f"{entry_point.name} ({dist.name} {dist.version})"


def decode_channel_options(
    name: str, channel_cls: type[Channel], options: Mapping[str, Any] | None
) -> msgspec.Struct:
    """Decode `[channels.NAME.options]` into the channel type's options Struct."""
    try:
        return msgspec.convert(dict(options or {}), channel_cls.options_type)
    except msgspec.ValidationError as exc:
        raise ChannelConfigError(name_options_error(name, str(exc))) from exc


def name_options_error(name: str, message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.port`" as "channels.NAME.options.port: expected int, got str"."""
    return name_validation_error(message, f"channels.{name}.options")


def name_validation_error(message: str, prefix: str = "") -> str:
    """A msgspec validation message rewritten to start with the dotted key it is about, under `prefix`."""
    text, _, where = message.partition(" - at `$")
    path = ".".join(part for part in (prefix, where.removesuffix("`").lstrip(".")) if part)
    text = text.replace("`", "")
    text = f"{text[:1].lower()}{text[1:]}"
    if field := re.fullmatch(r"object missing required field (\S+)", text):
        path, text = ".".join(p for p in (path, field.group(1)) if p), "required key missing"
    elif field := re.fullmatch(r"object contains unknown field (\S+)", text):
        path, text = ".".join(p for p in (path, field.group(1)) if p), "unknown key"
    elif field := re.fullmatch(r"([A-Za-z_]\w*): (.+)", text, re.DOTALL):
        # a `__post_init__` check that names its field: "expires_at: out of range - at `$.keys[0]`"
        path, text = ".".join(p for p in (path, field.group(1)) if p), field.group(2)
    return f"{path}: {text}" if path else text
