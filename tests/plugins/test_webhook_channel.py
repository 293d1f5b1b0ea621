"""The built-in webhook channel against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from plugin_sinks import WebhookSink, free_port
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from clarion_channels.targets import TargetRefused, host_problem, non_public_reason
from clarion_channels.webhook import PublicAddressResolver, WebhookChannel, retry_after_seconds
from clarion_plugins import ChannelConfigError, Delivered, PermanentFailure, PluginManager, TransientFailure
from clarion_plugins.testing import outbound_message

pytestmark = pytest.mark.no_db

CHANNEL_SECRET = "whsec_" + base64.b64encode(b"channel-secret-key-0123456789abc").decode()
ASSIGNMENT_SECRET = "whsec_" + base64.b64encode(b"assignment-secret-key-987654321").decode()


@pytest.fixture
def open_webhook_channel(open_channel) -> Callable[..., Awaitable[WebhookChannel]]:
    """Opens a webhook channel named "hook" (private targets allowed unless `options` say otherwise)."""

    async def open_webhook(**options: Any) -> WebhookChannel:
        return await open_channel(
            "hook", "webhook", {"allow_private_targets": True, "timeout_s": 5.0} | options
        )

    return open_webhook


async def test_standard_payload_is_signed_and_delivered(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel(secret=CHANNEL_SECRET)
    message = outbound_message(
        channel="hook",
        address=webhook_sink.url(),
        event="order-paid",
        text=None,
        context={"order_id": 42, "items": ["a", "b"]},
        correlation_id="corr-1",
        timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )

    result = await channel.send(message)

    assert result == Delivered(provider_id="req-1")
    [request] = webhook_sink.received
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == message.idempotency_key
    payload = Webhook(CHANNEL_SECRET).verify(request.body, request.headers)
    assert payload == {
        "type": "order-paid",
        "occurrence": message.occurrence_id,
        "timestamp": "2025-01-02T03:04:05Z",
        "data": {"order_id": 42, "items": ["a", "b"]},
        "correlation_id": "corr-1",
    }


async def test_assignment_secret_overrides_channel_secret(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel(secret=CHANNEL_SECRET)

    result = await channel.send(
        outbound_message(address=webhook_sink.url(), text=None, secret=ASSIGNMENT_SECRET)
    )

    assert isinstance(result, Delivered)
    [request] = webhook_sink.received
    Webhook(ASSIGNMENT_SECRET).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(CHANNEL_SECRET).verify(request.body, request.headers)


async def test_without_any_secret_the_request_is_unsigned(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url(), text=None))

    assert isinstance(result, Delivered)
    [request] = webhook_sink.received
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"] and request.headers["webhook-timestamp"].isdigit()


async def test_webhook_id_is_stable_across_retries(webhook_sink: WebhookSink, open_webhook_channel) -> None:
    channel = await open_webhook_channel(secret=CHANNEL_SECRET)
    first = outbound_message(address=webhook_sink.url(), text=None)

    await channel.send(first)
    await channel.send(
        outbound_message(address=first.address, text=None, idempotency_key=first.idempotency_key, attempt=2)
    )

    assert [request.headers["webhook-id"] for request in webhook_sink.received] == [first.idempotency_key] * 2


@pytest.mark.parametrize(
    ("text", "content_type"),
    [('{"custom": "payload", "n": 1}', "application/json"), ("Order 42 paid", "text/plain; charset=utf-8")],
)
async def test_rendered_template_is_sent_as_is(
    webhook_sink: WebhookSink, open_webhook_channel, text: str, content_type: str
) -> None:
    channel = await open_webhook_channel(secret=CHANNEL_SECRET)

    result = await channel.send(outbound_message(address=webhook_sink.url(), text=text))

    assert isinstance(result, Delivered)
    [request] = webhook_sink.received
    assert request.body == text.encode()
    assert request.headers["Content-Type"] == content_type
    Webhook(CHANNEL_SECRET).verify(request.body, request.headers, json_parse=False)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_is_delivered(webhook_sink: WebhookSink, open_webhook_channel, status: int) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url(f"/status/{status}")))

    assert result == Delivered(provider_id=None)


async def test_redirect_is_permanent_and_not_followed(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url("/status/301?location=/elsewhere")))

    assert isinstance(result, PermanentFailure)
    assert result.reason.startswith("http_301")
    assert [request.path for request in webhook_sink.received] == ["/status/301"]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_4xx_is_permanent(webhook_sink: WebhookSink, open_webhook_channel, status: int) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url(f"/status/{status}")))

    assert result == PermanentFailure(f"http_{status}")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_retryable_status_is_transient_and_honours_retry_after_seconds(
    webhook_sink: WebhookSink, open_webhook_channel, status: int
) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url(f"/status/{status}?retry_after=7")))

    assert result == TransientFailure(f"http_{status}", retry_after=7.0)


async def test_retry_after_as_http_date(webhook_sink: WebhookSink, open_webhook_channel) -> None:
    channel = await open_webhook_channel()
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    address = (
        webhook_sink.url("/status/503") + "?retry_after=" + later.replace(" ", "%20").replace(",", "%2C")
    )

    result = await channel.send(outbound_message(address=address))

    assert isinstance(result, TransientFailure)
    assert result.retry_after is not None and 110 <= result.retry_after <= 120


async def test_without_retry_after_the_dispatcher_chooses(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url("/status/503")))

    assert result == TransientFailure("http_503", retry_after=None)


async def test_timeout_is_transient(webhook_sink: WebhookSink, open_webhook_channel) -> None:
    channel = await open_webhook_channel(timeout_s=0.3)

    result = await channel.send(outbound_message(address=webhook_sink.url("/slow")))

    assert isinstance(result, TransientFailure)
    assert result.reason.startswith("timeout")


async def test_a_2xx_whose_body_stalls_is_still_delivered(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel(timeout_s=0.3)

    result = await channel.send(outbound_message(address=webhook_sink.url("/slow-body")))

    assert result == Delivered(provider_id=None)


async def test_connection_refused_is_transient(open_webhook_channel) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=f"http://127.0.0.1:{free_port()}/hook"))

    assert isinstance(result, TransientFailure)
    assert result.reason.startswith("connection_error")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1", "2130706433"])
async def test_private_targets_are_refused_unless_allowed(
    webhook_sink: WebhookSink, open_webhook_channel, host: str
) -> None:
    guarded = await open_webhook_channel(allow_private_targets=False)

    result = await guarded.send(outbound_message(address=webhook_sink.url(host=host)))

    assert isinstance(result, PermanentFailure)
    assert result.reason.startswith("address_rejected: ")
    assert webhook_sink.received == []


NUMERIC_HOSTS = ["2130706433", "127.1", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.0.0.1.", "017700000001"]


@pytest.mark.parametrize("allow_private_targets", [False, True])
@pytest.mark.parametrize("host", NUMERIC_HOSTS)
async def test_numeric_looking_hosts_are_refused_by_the_channel_itself(
    webhook_sink: WebhookSink, open_webhook_channel, host: str, allow_private_targets: bool
) -> None:
    channel = await open_webhook_channel(allow_private_targets=allow_private_targets)

    result = await channel.send(outbound_message(address=webhook_sink.url(host=host)))

    assert result == PermanentFailure(
        f"address_rejected: host {host!r} is a numeric form of an IP address, not a dotted quad:"
        " write the address as a.b.c.d"
    )
    assert webhook_sink.received == []


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("93.184.215.14", None),
        ("::1", None),
        ("example.com", None),
        ("xn--bcher-kva.example", None),
        ("hooks_1.example.com", None),
        ("0x.example", None),
        ("1.2.3.4.5", "is a numeric form of an IP address, not a dotted quad: write the address as a.b.c.d"),
        ("010.0.0.1", "is a numeric form of an IP address, not a dotted quad: write the address as a.b.c.d"),
        ("-bad-.example", "is not a DNS name or an IP address"),
        ("a" * 64 + ".example", "is not a DNS name or an IP address"),
    ],
)
def test_host_problem(host: str, problem: str | None) -> None:
    assert host_problem(host) == problem


class TwoAddressResolver(AbstractResolver):
    """Answers every name with a public address first and the loopback sink second."""

    def __init__(self, *_: Any, **__: Any) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0,
                          flags=socket.AI_NUMERICHOST)
            for address in ("93.184.215.14", "127.0.0.1")
        ]

    async def close(self) -> None:
        pass


async def test_every_address_a_name_resolves_to_is_checked() -> None:
    resolver = PublicAddressResolver(TwoAddressResolver())
    with pytest.raises(TargetRefused) as refused:
        await resolver.resolve("mixed.example", 80)
    assert str(refused.value) == "mixed.example resolves to 127.0.0.1, not a public address (loopback)"


async def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(
    webhook_sink: WebhookSink, open_webhook_channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clarion_channels.webhook as webhook

    monkeypatch.setattr(webhook, "DefaultResolver", TwoAddressResolver)
    channel = await open_webhook_channel(allow_private_targets=False)

    result = await channel.send(outbound_message(address=webhook_sink.url(host="mixed.example")))

    assert result == PermanentFailure(
        "address_rejected: mixed.example resolves to 127.0.0.1, not a public address (loopback)"
    )
    assert webhook_sink.received == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_targets_are_delivered_when_allowed(
    webhook_sink: WebhookSink, open_webhook_channel, host: str
) -> None:
    trusting = await open_webhook_channel(allow_private_targets=True)

    result = await trusting.send(outbound_message(address=webhook_sink.url(host=host)))

    assert isinstance(result, Delivered)
    assert len(webhook_sink.received) == 1


@pytest.mark.parametrize(
    "address", ["ftp://127.0.0.1/hook", "mailto:alice@example.com", "not a url", "http://"]
)
async def test_non_http_address_is_permanent(open_webhook_channel, address: str) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=address))

    assert isinstance(result, PermanentFailure)
    assert result.reason.startswith("address_rejected: ")


async def test_invalid_assignment_secret_is_permanent(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    channel = await open_webhook_channel()

    result = await channel.send(outbound_message(address=webhook_sink.url(), secret="whsec_***"))

    assert isinstance(result, PermanentFailure)
    assert result.reason.startswith("invalid_secret: ")
    assert webhook_sink.received == []


async def test_connections_are_pooled(webhook_sink: WebhookSink, open_webhook_channel) -> None:
    channel = await open_webhook_channel()

    for _ in range(5):
        assert isinstance(await channel.send(outbound_message(address=webhook_sink.url())), Delivered)

    assert webhook_sink.connection_count == 1


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not globally routable"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
        ("example.com", None),
    ],
)
def test_non_public_reason(host: str, reason: str | None) -> None:
    assert non_public_reason(host) == reason


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("") is None
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("-5") is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            {"secret": "whsec_not-base64!"},
            "channels.hook.options.secret: expected 'whsec_' followed by the base64 of a 24 to 64 byte key"
            " (what follows 'whsec_' is not base64)",
        ),
        (
            {"secret": "whsec_c2VjcmV0"},
            "channels.hook.options.secret: expected 'whsec_' followed by the base64 of a 24 to 64 byte key"
            " (it decodes to 6 bytes)",
        ),
        (
            {"secret": base64.b64encode(b"k" * 32).decode()},
            "channels.hook.options.secret: expected 'whsec_' followed by the base64 of a 24 to 64 byte key"
            " (it does not start with 'whsec_')",
        ),
        ({"timeout_s": 0}, "channels.hook.options.timeout_s: expected float > 0.0"),
        (
            {"allow_private_targets": "yes"},
            "channels.hook.options.allow_private_targets: expected bool, got str",
        ),
        ({"url": "http://x"}, "channels.hook.options.url: unknown key"),
    ],
)
def test_option_errors_name_the_key(
    builtin_plugins: PluginManager, options: dict[str, Any], error: str
) -> None:
    with pytest.raises(ChannelConfigError) as raised:
        builtin_plugins.create_channel("hook", "webhook", options)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("not-a-secret", "it does not start with 'whsec_'"),
        ("whsec_", "what follows 'whsec_' is not base64"),
        ("whsec_***", "what follows 'whsec_' is not base64"),
        ("whsec_" + base64.b64encode(b"k" * 23).decode(), "it decodes to 23 bytes"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "it decodes to 65 bytes"),
    ],
)
def test_check_secret_refuses_what_cannot_sign(secret: str, why: str) -> None:
    with pytest.raises(ValueError) as raised:
        WebhookChannel.check_secret(secret)
    assert str(raised.value) == f"expected 'whsec_' followed by the base64 of a 24 to 64 byte key ({why})"


@pytest.mark.parametrize("size", [24, 32, 64])
def test_check_secret_accepts_24_to_64_byte_keys(size: int) -> None:
    WebhookChannel.check_secret("whsec_" + base64.b64encode(b"k" * size).decode())
    WebhookChannel.check_secret(CHANNEL_SECRET)


def test_other_channel_types_accept_any_secret_by_default(builtin_plugins: PluginManager) -> None:
    assert builtin_plugins.channel_types["email"].check_secret("anything at all") is None


async def test_a_host_at_max_per_host_defers_at_once_and_other_hosts_are_sent(
    webhook_sink: WebhookSink, open_webhook_channel
) -> None:
    import asyncio
    import time

    channel = await open_webhook_channel(max_per_host=2, timeout_s=5.0)
    slow = webhook_sink.url("/slow", host="127.0.0.1")
    hanging = [asyncio.create_task(channel.send(outbound_message(address=slow))) for _ in range(2)]
    while len(webhook_sink.received) < 2:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    deferred = await channel.send(outbound_message(address=slow))
    assert time.monotonic() - started < 0.1  # returned at once, holding nothing
    assert isinstance(deferred, TransientFailure) and deferred.attempted is False
    assert deferred.reason == (
        "host_busy: 2 requests to 127.0.0.1 in flight (max_per_host = 2); not sent, tried again later"
    )
    assert deferred.retry_after is not None and 0.05 <= deferred.retry_after < 5.0
    # another host (the same server, named differently) is not held up
    assert await channel.send(outbound_message(address=webhook_sink.url(host="localhost"))) == Delivered(
        provider_id="req-3"
    )
    assert len(webhook_sink.received) == 3
    webhook_sink.release_slow.set()
    assert [await task for task in hanging] == [Delivered(), Delivered()]
    # the slots are free again
    assert isinstance(await channel.send(outbound_message(address=webhook_sink.url())), Delivered)


def test_deferrals_wait_longer_the_more_are_waiting() -> None:
    from clarion_channels.webhook import HostSlots

    slots = HostSlots(limit=2)
    first, second = slots.take("h.example"), slots.take("h.example")
    assert isinstance(first, float) and isinstance(second, float)
    waits = [slots.take("h.example").retry_after for _ in range(6)]  # type: ignore[union-attr]
    assert waits[0] == waits[1] == pytest.approx(0.05, abs=0.01)
    assert waits[2] == waits[3] == pytest.approx(0.10, abs=0.02)
    assert waits[4] == waits[5] == pytest.approx(0.15, abs=0.03)
    slots.release("h.example", first)
    assert isinstance(slots.take("h.example"), float)  # a freed slot is taken again
    assert slots.in_flight("h.example") == 2
