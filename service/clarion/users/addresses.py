"""Address kinds, derived from the value."""

import re
from urllib.parse import urlsplit

ADDRESS_KINDS = ("email", "url", "phone", "other")

_MAILBOX = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def address_kind(value: str) -> str:
    """`email` (a valid mailbox), `url` (http/https), `phone` (E.164), else `other`."""
    if _MAILBOX.match(value) and len(value) <= 254:
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
