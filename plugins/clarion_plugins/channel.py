"""The base class every channel type (built-in or third-party) derives from."""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, ClassVar, Generic

import msgspec
from typing_extensions import TypeVar

from clarion_plugins.addresses import BUILTIN_ADDRESS_KINDS
from clarion_plugins.messages import OutboundMessage, SendResult

ADDRESS_KINDS = BUILTIN_ADDRESS_KINDS
CAPABILITIES = frozenset({"subject", "text", "html", "attachments"})
TYPE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class NoOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The options of a channel type that takes none."""


# PEP 696 (typing_extensions until Python 3.13): with a default, a bare `Channel`, as in a plugin's
# `register: Callable[[type[Channel]], None]`, means `Channel[Any]` and passes `mypy --strict`.
OptionsT = TypeVar("OptionsT", default=Any)


class Channel(ABC, Generic[OptionsT]):
    """One configured channel instance (`[channels.NAME]`) of a channel type.

    The dispatcher calls `open()` once, then `send()` concurrently for many
    messages (at most the channel's `max_concurrency` at a time), then
    `aclose()`; after `aclose()` it may call `open()` again.
    """

    type_name: ClassVar[str]
    """What `type = "..."` in the configuration names."""
    options_type: ClassVar[type[msgspec.Struct]] = NoOptions
    """`[channels.NAME.options]` is decoded into this Struct."""
    address_kinds: ClassVar[frozenset[str]] = frozenset()
    """Which address kinds this type can reach: "email", "url", "phone", "other", or a kind a plugin
    registered (`register_address_kinds`, e.g. "apprise")."""
    capabilities: ClassVar[frozenset[str]] = frozenset({"text"})
    """Which message parts it sends: "subject", "text", "html", "attachments"."""
    requires_template: ClassVar[bool] = True
    """False if the type can send without a template (the webhook's standard payload)."""

    def __init__(self, name: str, options: OptionsT) -> None:
        self.name = name
        self.options = options

    @classmethod
    def check_secret(cls, secret: str) -> None:
        """Raise `ValueError` saying what is wrong with an assignment's `secret` for this type.

        Called when an assignment with a secret is created (API and catalog), so
        a secret the channel could never use is refused there, not at every send.
        The message must not repeat the secret. Default: every secret is accepted.
        """

    async def open(self) -> None:
        """Create clients and pools. Called before the first `send()`."""

    async def aclose(self) -> None:
        """Release what `open()` created. Must be safe to call twice, or without `open()`."""

    async def probe(self) -> str:
        """Check that the channel could send now, without sending anything (`clarion doctor`).

        Called on a channel that is not open. Return one line saying what was
        checked (e.g. "SMTP mail.example.com:587 answered EHLO"); raise any
        exception saying what is wrong. Default: nothing to check.
        """
        return "no check for this channel type"

    @abstractmethod
    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message and say how it went.

        Return `Delivered`, `PermanentFailure` (never retried) or
        `TransientFailure` (retried with backoff, honouring `retry_after`).
        An exception raised here counts as a transient failure: the dispatcher
        records it and retries, so report known outcomes as results instead.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} type={self.type_name!r}>"


def channel_class_problems(cls: Any, address_kinds: Collection[str] = ADDRESS_KINDS) -> list[str]:
    """What is wrong with a class offered as a channel type; empty if nothing.

    `address_kinds`: the kinds it may name (the built-in ones and those plugins registered).
    """
    if not (isinstance(cls, type) and issubclass(cls, Channel)):
        return [f"{cls!r} is not a subclass of clarion_plugins.Channel"]
    problems = []
    type_name = getattr(cls, "type_name", None)
    if not isinstance(type_name, str) or not TYPE_NAME_PATTERN.match(type_name):
        problems.append(f"type_name must be lowercase letters, digits, '-' and '_' (got {type_name!r})")
    if inspect.isabstract(cls):
        problems.append(f"abstract methods not implemented: {sorted(cls.__abstractmethods__)}")
    if not (isinstance(cls.options_type, type) and issubclass(cls.options_type, msgspec.Struct)):
        problems.append(f"options_type must be a msgspec.Struct subclass (got {cls.options_type!r})")
    for attribute, known in (("address_kinds", frozenset(address_kinds)), ("capabilities", CAPABILITIES)):
        value = getattr(cls, attribute)
        if not isinstance(value, frozenset) or not all(isinstance(item, str) for item in value):
            problems.append(f"{attribute} must be a frozenset of strings (got {value!r})")
        elif unknown := value - known:
            problems.append(
                f"{attribute} has unknown values {sorted(unknown)} (known: {', '.join(sorted(known))})"
            )
    if not cls.address_kinds:
        problems.append("address_kinds is empty: the channel could reach no one")
    if not isinstance(cls.requires_template, bool):
        problems.append(f"requires_template must be a bool (got {cls.requires_template!r})")
    return problems
