"""Address kinds: the built-in ones, derived from the value, and those channel plugins register.

An address's kind is fixed when it is created: the kind the client names, else the first of
`email` (a valid mailbox), `phone` (E.164), `url` (http/https) that fits, else the first kind a
plugin registered that recognises the value (`apprise` for `tgram://…`), else `other`. A plugin's
kind checks the value (an Apprise URL Apprise cannot read is refused) and says how it is shown:
every API response, command output and log line shows an address through `AddressKinds.shown`.
"""

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from clarion_plugins import AddressKind

BUILTIN_KINDS = ("email", "url", "phone", "other")
MASK = "********"

_MAILBOX = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def is_mailbox(value: str) -> bool:
    """Whether `value` is an e-mail address (`local@domain`, at most 254 characters)."""
    return bool(_MAILBOX.match(value)) and len(value) <= 254


def check_email(value: object, field: str = "email") -> None:
    """ValueError naming `field` unless `value` is empty (no e-mail) or a mailbox; not a str: nothing to check.

    Call it from a Struct's `__post_init__`: msgspec turns the ValueError into a ValidationError.
    """
    if isinstance(value, str) and value and not is_mailbox(value):
        raise ValueError(f"{field}: not an e-mail address (expected local@domain): {value!r}")


def address_kind(value: str) -> str:
    """`email` (a valid mailbox), `url` (http/https), `phone` (E.164), else `other`."""
    if is_mailbox(value):
        return "email"
    if _E164.match(value):
        return "phone"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "other"
    if parts.scheme in ("http", "https") and parts.hostname:
        return "url"
    return "other"


class AddressKindError(ValueError):
    """An address that cannot be of the kind given or derived; `field` is `kind` or `value`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def at(self, where: str) -> str:
        """The message with the field under `where` (e.g. `addresses[2]`)."""
        return f"{where}.{self.field}: {self.problem}" if where else str(self)


class AddressKinds:
    """The address kinds of this process: the built-in ones and those its plugins registered."""

    def __init__(self, registered: Mapping[str, AddressKind]) -> None:
        self._registered = dict(registered)

    @property
    def names(self) -> list[str]:
        return sorted({*BUILTIN_KINDS, *self._registered})

    def kind_of(self, value: str, given: str | None = None) -> str:
        """The kind of a new address `value` (`given`, when the client named one); `AddressKindError` if
        the kind is unknown or the value is not one of it."""
        if given is not None and given not in BUILTIN_KINDS and given not in self._registered:
            raise AddressKindError("kind", f"unknown address kind {given!r} (known: {', '.join(self.names)})")
        derived = address_kind(value)
        if given in BUILTIN_KINDS:
            if given not in (derived, "other"):
                raise AddressKindError("value", f"not an address of kind {given!r} (it reads as {derived!r})")
            return given
        kind = self._registered.get(given) if given is not None else None
        if kind is None and derived == "other":
            kind = next((kind for kind in self._registered.values() if kind.recognises(value)), None)
        if kind is None:
            return derived
        try:
            kind.check(value)
        except ValueError as exc:
            raise AddressKindError("value", str(exc)) from None
        return kind.name

    def shown(self, value: str, kind: str | None = None) -> str:
        """`value` as it may be shown: secrets of a plugin kind's value redacted by the plugin. Without
        `kind` (a delivery's address), the kind is derived as for a new address."""
        if kind is None:
            kind = address_kind(value)
            if kind == "other":
                kind = next((name for name, known in self._registered.items() if known.recognises(value)), kind)
        if kind in BUILTIN_KINDS:
            return value
        registered = self._registered.get(kind)
        if registered is not None:
            try:
                return registered.redact(value)
            except Exception:  # a plugin's redact failing must not show the value instead
                pass
        scheme = _SCHEME.match(value)
        return f"{scheme.group(1)}://{MASK}" if scheme else MASK
