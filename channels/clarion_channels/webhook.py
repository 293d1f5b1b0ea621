"""The built-in `webhook` channel: Standard Webhooks signed POSTs over one pooled aiohttp session."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from clarion_channels.constraints import PositiveFloat, PositiveInt
from clarion_channels.targets import TargetRefused, host_problem, non_public_reason
from clarion_plugins import (
    Channel,
    Delivered,
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    hookimpl,
)

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_KEY_BYTES = (24, 64)
"""The key length Standard Webhooks asks for: 24 to 64 bytes (192 to 512 bits)."""
PROVIDER_ID_HEADERS = ("x-request-id", "request-id")
_MAX_DRAINED_RESPONSE_BYTES = 65536
_DEFER_MIN_S = 0.05
_DEFER_MAX_S = 60.0


PROBE_HOST = "localhost"
"""The name `probe` resolves: one every resolver answers without reaching the network."""


class WebhookOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[channels.NAME.options]` of a `webhook` channel."""

    secret: str | None = None
    """"whsec_" + base64 of a 24 to 64 byte key: signs every request unless the assignment has its own."""
    allow_private_targets: bool = False
    """Allow URLs that resolve to private, loopback, link-local or otherwise non-public addresses."""
    timeout_s: PositiveFloat = 15.0
    max_connections: PositiveInt = 100
    """How many HTTP connections the channel's session keeps open at most."""
    max_per_host: PositiveInt = 4
    """How many requests to one host are in flight at once; more are deferred, not queued, so a
    slow host holds none of the channel's `max_concurrency` beyond these."""

    def __post_init__(self) -> None:
        if self.secret is not None:
            try:
                check_secret(self.secret)
            except ValueError as exc:
                raise ValueError(f"secret: {exc}") from None


class StandardPayload(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The body sent when the notification has no template for the webhook channel."""

    type: str
    occurrence: str
    timestamp: datetime
    data: dict[str, Any]
    correlation_id: str | None = None


class AddressRejected(ValueError):
    """The recipient URL is not one the channel may call."""


class PublicAddressResolver(AbstractResolver):
    """Resolves with `resolver` and refuses a host if any of its addresses is not public."""

    def __init__(self, resolver: AbstractResolver) -> None:
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            if why := non_public_reason(result["host"]):
                raise TargetRefused(f"{host} resolves to {result['host']}, not a public address ({why})")
        return results

    async def close(self) -> None:
        await self._resolver.close()


class WebhookChannel(Channel[WebhookOptions]):
    """POSTs each message to the recipient's URL."""

    type_name = "webhook"
    options_type = WebhookOptions
    address_kinds = frozenset({"url"})
    capabilities = frozenset({"text"})
    requires_template = False

    @classmethod
    def check_secret(cls, secret: str) -> None:
        check_secret(secret)

    def __init__(self, name: str, options: WebhookOptions) -> None:
        super().__init__(name, options)
        self._session: aiohttp.ClientSession | None = None
        self._resolver: PublicAddressResolver | None = None
        self._hosts = HostSlots(options.max_per_host)

    async def open(self) -> None:
        if self._session is not None:
            return
        resolver = None if self.options.allow_private_targets else PublicAddressResolver(DefaultResolver())
        connector = aiohttp.TCPConnector(limit=self.options.max_connections, resolver=resolver)
        self._resolver = resolver
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
            headers={"user-agent": "Clarion-Webhooks"},
        )

    async def probe(self) -> str:
        """Ask the resolver the channel sends through (the public-address check included) for a public name."""
        resolver = DefaultResolver()
        try:
            await resolver.resolve(PROBE_HOST, 443)
        finally:
            await resolver.close()
        return f"the resolver answers ({PROBE_HOST} resolved)"

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            await resolver.close()

    async def send(self, message: OutboundMessage) -> Delivered | PermanentFailure | TransientFailure:
        session = self._session
        if session is None:
            raise RuntimeError(f"webhook channel {self.name!r} is not open")
        try:
            url = target_url(message.address, self.options.allow_private_targets)
        except AddressRejected as exc:
            return PermanentFailure(f"address_rejected: {exc}")
        body, content_type = request_body(message)
        try:
            headers = signed_headers(message, body, self.options.secret)
        except ValueError as exc:
            return PermanentFailure(f"invalid_secret: {exc}")
        headers["content-type"] = content_type
        host = url.raw_host.lower()  # type: ignore[union-attr]  # target_url checked it
        started = self._hosts.take(host)
        if isinstance(started, TransientFailure):
            return started  # deferred: the host has `max_per_host` requests in flight
        try:
            return await self._post(session, url, body, headers)
        finally:
            self._hosts.release(host, started)

    async def _post(
        self, session: aiohttp.ClientSession, url: URL, body: bytes, headers: dict[str, str]
    ) -> Delivered | PermanentFailure | TransientFailure:
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await _drain(response)
                return result_from_response(response.status, response.headers)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TargetRefused):
                return PermanentFailure(f"address_rejected: {exc.os_error}")
            return TransientFailure(f"connection_error: {exc}")
        except TimeoutError:
            return TransientFailure(f"timeout: no response within {self.options.timeout_s:g}s")
        except aiohttp.InvalidURL as exc:
            return PermanentFailure(f"address_rejected: invalid URL {exc}")
        except aiohttp.ClientError as exc:
            return TransientFailure(f"connection_error: {type(exc).__name__}: {exc}")


class HostSlots:
    """At most `limit` requests per destination host at once; a send beyond that is deferred.

    Deferring (a `TransientFailure` with `attempted=False`) returns at once, so the send holds
    no channel-wide slot while the host is busy. It comes back after about as long as a request
    to that host has recently taken, times how many sends were deferred ahead of it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: Counter[str] = Counter()
        self._started: dict[str, list[float]] = {}
        self._deferred: Counter[str] = Counter()
        self._took: dict[str, float] = {}

    def take(self, host: str) -> float | TransientFailure:
        """A slot of `host` (the time it was taken, to give to `release`), or the deferral to return."""
        now = time.monotonic()
        if self._in_flight[host] < self.limit:
            self._in_flight[host] += 1
            self._started.setdefault(host, []).append(now)
            return now
        self._deferred[host] += 1
        # A host that hangs shows it by the age of its oldest request in flight.
        took = max(self._took.get(host, _DEFER_MIN_S), now - min(self._started[host]))
        wait = min(max(took, _DEFER_MIN_S) * (1 + (self._deferred[host] - 1) // self.limit), _DEFER_MAX_S)
        return TransientFailure(
            f"host_busy: {self._in_flight[host]} requests to {host} in flight (max_per_host = {self.limit});"
            " not sent, tried again later",
            retry_after=wait,
            attempted=False,
        )

    def release(self, host: str, started: float) -> None:
        self._started[host].remove(started)
        self._took[host] = time.monotonic() - started
        self._in_flight[host] -= 1
        self._deferred.pop(host, None)  # a slot freed: who is deferred now waits from here
        if not self._in_flight[host]:  # forget idle hosts: memory stays bounded by the hosts in use
            del self._in_flight[host], self._started[host], self._took[host]

    def in_flight(self, host: str) -> int:
        return self._in_flight[host]


def target_url(address: str, allow_private_targets: bool) -> URL:
    """The URL to POST to; a non-http(s) URL, or a literal non-public IP, is rejected."""
    try:
        url = URL(address.strip())
    except (TypeError, ValueError) as exc:
        raise AddressRejected(f"not a URL: {address!r}") from exc
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise AddressRejected(f"not an http(s) URL: {address!r}")
    if why := host_problem(url.raw_host):
        raise AddressRejected(f"host {url.raw_host!r} {why}")
    # aiohttp connects to literal IPs without asking the resolver, so check them here.
    if not allow_private_targets and (why := non_public_reason(url.raw_host)):
        raise AddressRejected(f"{url.raw_host} is not a public address ({why})")
    return url


def request_body(message: OutboundMessage) -> tuple[bytes, str]:
    """The body and its content type: the rendered template as-is, else the standard payload."""
    if message.text is not None:
        body = message.text.encode()
        try:
            msgspec.json.decode(body)
        except msgspec.DecodeError:
            return body, "text/plain; charset=utf-8"
        return body, "application/json"
    payload = StandardPayload(
        type=message.event,
        occurrence=message.occurrence_id,
        timestamp=message.timestamp,
        data=message.context,
        correlation_id=message.correlation_id,
    )
    return msgspec.json.encode(payload), "application/json"


def signed_headers(message: OutboundMessage, body: bytes, channel_secret: str | None) -> dict[str, str]:
    """Standard Webhooks headers, signed with the assignment's secret, else the channel's, else unsigned."""
    timestamp = int(time.time())
    headers = {"webhook-id": message.idempotency_key, "webhook-timestamp": str(timestamp)}
    secret = message.secret or channel_secret
    if secret:
        headers["webhook-signature"] = sign(signing_key(secret), message.idempotency_key, timestamp, body)
    return headers


def signing_key(secret: str) -> bytes:
    """The HMAC key in a Standard Webhooks secret: the base64 after "whsec_"."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        key = b""
    if not key:
        raise ValueError(f"a webhook secret is {SECRET_PREFIX!r} followed by base64")
    return key


def check_secret(secret: str) -> None:
    """A secret to accept for signing: "whsec_" and the base64 of a 24 to 64 byte key (ValueError if not).

    Stricter than `signing_key`, which signs with whatever a stored secret decodes to.
    """
    shortest, longest = SECRET_KEY_BYTES
    expected = f"expected {SECRET_PREFIX!r} followed by the base64 of a {shortest} to {longest} byte key"
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"{expected} (it does not start with {SECRET_PREFIX!r})")
    try:
        key = signing_key(secret)
    except ValueError:
        raise ValueError(f"{expected} (what follows {SECRET_PREFIX!r} is not base64)") from None
    if not shortest <= len(key) <= longest:
        raise ValueError(f"{expected} (it decodes to {len(key)} bytes)")


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: "v1," + base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed_content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed_content, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def result_from_response(status: int, headers: Any) -> Delivered | PermanentFailure | TransientFailure:
    """2xx delivered; 408, 429 and 5xx transient (honouring Retry-After); 3xx and other 4xx permanent."""
    if 200 <= status < 300:
        provider_id = next((headers[name] for name in PROVIDER_ID_HEADERS if name in headers), None)
        return Delivered(provider_id=provider_id)
    reason = f"http_{status}"
    if status in (408, 429) or status >= 500:
        return TransientFailure(reason, retry_after=retry_after_seconds(headers.get("retry-after")))
    if 300 <= status < 400:
        return PermanentFailure(f"{reason}: redirects are not followed")
    return PermanentFailure(reason)


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` value (seconds or an HTTP date) as seconds from now; None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a small response body to its end so the connection goes back to the pool.

    The status is already known: a body that is large, slow or broken only costs
    the connection, never the result.
    """
    received = 0
    try:
        while received <= _MAX_DRAINED_RESPONSE_BYTES and (chunk := await response.content.read(16384)):
            received += len(chunk)
    except (aiohttp.ClientError, TimeoutError):
        logger.debug("response body from %s not read to its end", response.url)


@hookimpl
def register_channel_types(register: Callable[[type[Channel]], None]) -> None:
    register(WebhookChannel)
