"""Which network targets a channel may reach: the rules the webhook and Apprise channels share.

A target is refused when its host is written in an ambiguous numeric form (whatever
`allow_private_targets` says), or, unless private targets are allowed, when any address it
resolves to is not public: private, loopback, link-local, multicast, reserved, unspecified or
otherwise not globally routable, including such IPv4 addresses inside IPv4-mapped, 6to4,
Teredo and NAT64 IPv6 addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket

_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class TargetRefused(OSError):
    """A host name resolved to an address the channel may not call.

    An OSError, so aiohttp reports it as a connection error whose `os_error` is this.
    """


def host_problem(host: str) -> str | None:
    """Why `host` (a URL's host, IDNA-encoded) is refused as ambiguous, or None.

    Accepted: a canonical dotted quad (`93.184.215.14`), an IPv6 literal, or a DNS
    name. Refused: anything else that some parser reads as an IPv4 address
    (`2130706433`, `127.1`, `0177.0.0.1`, `0x7f.1`: libc, aiohttp and Python
    disagree about those, which is how a loopback target slips past a check),
    names whose last label is numeric, and names that are not DNS syntax. Refused
    whatever `allow_private_targets` says.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) or (address is not None and str(address) == host):
        return None
    name = host.lower().removesuffix(".")
    labels = name.split(".")
    if _looks_like_ipv4(name) or _NUMERIC_LABEL.fullmatch(labels[-1]):
        return "is a numeric form of an IP address, not a dotted quad: write the address as a.b.c.d"
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return "is not a DNS name or an IP address"
    return None


def _looks_like_ipv4(name: str) -> bool:
    """True if the C library would read `name` as an IPv4 address (inet_aton's forms)."""
    try:
        socket.inet_aton(name)
    except (OSError, ValueError):
        return False
    return True


def non_public_reason(host: str) -> str | None:
    """Why the IP address `host` is not a public target, or None; None also for a host name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (why := non_public_reason(str(embedded))):
            return why
    for why, refused in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if refused:
            return why
    return None
