"""Address kinds, derived from the value."""

import re
from urllib.parse import urlsplit

ADDRESS_KINDS = ("email", "url", "phone", "other")

_MAILBOX = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


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
