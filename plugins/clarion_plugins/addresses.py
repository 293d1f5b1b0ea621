"""Address kinds a plugin adds: how Clarion recognises, checks and shows such an address."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

BUILTIN_ADDRESS_KINDS = frozenset({"email", "url", "phone", "other"})
KIND_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")


class AddressKind(ABC):
    """A kind of address value beyond the built-in `email`, `url`, `phone` and `other`.

    A plugin registers an instance with the `register_address_kinds` hook; channel
    types of any plugin loaded later may then name it in `address_kinds`. Clarion
    calls these methods synchronously (no I/O) when an address is created and
    wherever an address is shown.
    """

    name: ClassVar[str]
    """The kind's name, stored with every address of this kind: lowercase, at most 16 characters."""

    def recognises(self, value: str) -> bool:
        """True if `value`, given without an explicit kind, is meant to be of this kind.

        Built-in kinds are tried first (a mailbox, an http(s) URL, an E.164 number);
        a value none of them takes is offered to the registered kinds. Default: False
        (the kind is used only when the client names it).
        """
        return False

    @abstractmethod
    def check(self, value: str) -> None:
        """Raise `ValueError` saying what is wrong with `value` as an address of this kind.

        The message must not repeat secrets the value carries (use `redact`).
        """

    def redact(self, value: str) -> str:
        """`value` as it may be shown in API responses, command output, logs and errors. Default: as is."""
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'name', None)!r}>"


def address_kind_problems(kind: object) -> list[str]:
    """What is wrong with an object offered as an address kind; empty if nothing."""
    if not isinstance(kind, AddressKind):
        return [f"{kind!r} is not an instance of clarion_plugins.AddressKind"]
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not KIND_NAME_PATTERN.match(name):
        return [f"name must be lowercase letters, digits, '-' and '_', at most 16 (got {name!r})"]
    if name in BUILTIN_ADDRESS_KINDS:
        return [f"address kind {name!r} is built in"]
    return []
