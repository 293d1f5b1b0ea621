"""The `apprise` channel, sending for real through Apprise to servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from plugin_sinks import NtfySink, SmtpSink, WebhookSink, free_port

from clarion_channels.apprise import (
    AppriseAddress,
    AppriseChannel,
    SendScope,
    load_service,
    secret_fragments,
    service_schemes,
)
from clarion_plugins import (
    AddressKind,
    ChannelConfigError,
    Delivered,
    OutboundMessage,
    PermanentFailure,
    PluginManager,
    TransientFailure,
)
from clarion_plugins.testing import ChannelContract, outbound_message

pytestmark = pytest.mark.no_db

NTFY_PASSWORD = "ntfy-pa55word"


@pytest.fixture
def open_apprise(open_channel) -> Callable[..., Awaitable[AppriseChannel]]:
    """Opens `apprise` channels named "chat" (private targets allowed unless `options` say otherwise)."""

    async def open_apprise_channel(**options: Any) -> AppriseChannel:
        channel = await open_channel("chat", "apprise", {"allow_private_targets": True} | options)
        assert isinstance(channel, AppriseChannel)
        return channel

    return open_apprise_channel


@pytest.fixture
async def ntfy_sink() -> AsyncIterator[NtfySink]:
    sink = NtfySink(password=NTFY_PASSWORD)
    await sink.start()
    yield sink
    await sink.close()


def json_url(sink: WebhookSink, path: str = "/notify", scheme: str = "json", credentials: str = "") -> str:
    return f"{scheme}://{credentials}127.0.0.1:{sink.port}{path}"


class TestAppriseChannelContract(ChannelContract):
    @pytest.fixture
    def channel_cls(self) -> type[AppriseChannel]:
        return AppriseChannel

    @pytest.fixture
    def channel_options(self) -> dict[str, Any]:
        return {"allow_private_targets": True, "timeout_s": 10}

    @pytest.fixture
    def address_kinds(self) -> list[AddressKind]:
        return [AppriseAddress()]

    @pytest.fixture
    def reachable_message(self, webhook_sink: WebhookSink) -> OutboundMessage:
        return outbound_message(address=json_url(webhook_sink))

    @pytest.fixture
    def unreachable_message(self) -> OutboundMessage:
        return outbound_message(address=f"json://127.0.0.1:{free_port()}/nobody-listens")


# Real sends: json://, form://, mailto://, ntfy:// -------------------------------------------------


async def test_json_carries_subject_as_title_and_text_as_body(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise()
    message = outbound_message(address=json_url(webhook_sink), subject="Order A-1 paid", text="Thanks, Alice.")
    assert await channel.send(message) == Delivered()
    (request,) = webhook_sink.received
    assert request.path == "/notify"
    payload = json.loads(request.body)
    assert (payload["title"], payload["message"]) == ("Order A-1 paid", "Thanks, Alice.")


async def test_form_carries_title_and_body(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise()
    message = outbound_message(address=json_url(webhook_sink, scheme="form"), subject="Deploy", text="v2 is out")
    assert isinstance(await channel.send(message), Delivered)
    (request,) = webhook_sink.received
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    form = parse_qs(request.body.decode())
    assert (form["title"], form["message"]) == (["Deploy"], ["v2 is out"])


async def test_mailto_through_smtp(open_apprise, smtp_sink: SmtpSink) -> None:
    channel = await open_apprise()
    address = (
        f"mailto://127.0.0.1:{smtp_sink.port}?from=clarion@clarion.test&to=alice@example.com&mode=insecure"
    )
    message = outbound_message(address=address, subject="Your order", text="It has shipped.")
    assert isinstance(await channel.send(message), Delivered)
    (mail,) = smtp_sink.received
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.message["Subject"] == "Your order"
    assert mail.message.get_body(("plain",)).get_content().strip() == "It has shipped."


async def test_ntfy_publishes_title_and_message_with_credentials(open_apprise, ntfy_sink: NtfySink) -> None:
    channel = await open_apprise()
    address = f"ntfy://clarion:{NTFY_PASSWORD}@127.0.0.1:{ntfy_sink.port}/deploys"
    message = outbound_message(address=address, subject="Deployed", text="web 2.4.1 is live")
    assert isinstance(await channel.send(message), Delivered)
    (published,) = ntfy_sink.received
    assert (published.topic, published.title, published.message) == ("deploys", "Deployed", "web 2.4.1 is live")
    assert published.authorization and published.authorization.startswith("Basic ")


async def test_a_refusal_by_the_service_is_transient_and_shows_no_secret(open_apprise, ntfy_sink: NtfySink) -> None:
    channel = await open_apprise()
    address = f"ntfy://clarion:wrong-{NTFY_PASSWORD}@127.0.0.1:{ntfy_sink.port}/deploys"
    result = await channel.send(outbound_message(address=address))
    assert isinstance(result, TransientFailure)
    assert result.reason.startswith("apprise_failed: ntfy (ntfy://clarion:****@127.0.0.1:")
    assert "forbidden" in result.reason and "error=40301" in result.reason
    assert NTFY_PASSWORD not in result.reason
    assert ntfy_sink.received == []


async def test_a_server_error_is_transient(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise()
    address = json_url(webhook_sink, "/status/503", credentials="bot:hunter2-secret@")
    result = await channel.send(outbound_message(address=address))
    assert isinstance(result, TransientFailure)
    assert "error=503" in result.reason
    assert "hunter2-secret" not in result.reason and "json://bot:****@127.0.0.1" in result.reason


async def test_a_connection_error_is_transient(open_apprise) -> None:
    channel = await open_apprise()
    result = await channel.send(outbound_message(address=f"json://127.0.0.1:{free_port()}/x"))
    assert isinstance(result, TransientFailure)
    assert "Connection error" in result.reason


# Addresses the channel refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("tgarm://123456789:token/42", "address_rejected: unknown Apprise scheme 'tgarm' (did you mean tgram"),
        ("no url at all", "address_rejected: not an Apprise URL"),
        ("slack://T1JJ3T3L2", "address_rejected: not a valid Slack URL"),
        ("tgram://x", "address_rejected: not a valid Telegram URL"),
    ],
)
async def test_an_invalid_url_is_a_permanent_failure(open_apprise, address: str, reason: str) -> None:
    channel = await open_apprise()
    result = await channel.send(outbound_message(address=address))
    assert isinstance(result, PermanentFailure)
    assert result.reason.startswith(reason), result.reason


async def test_private_targets_are_refused_before_anything_is_sent(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise(allow_private_targets=False)
    for host in ("127.0.0.1", "localhost"):
        result = await channel.send(outbound_message(address=f"json://{host}:{webhook_sink.port}/in"))
        assert isinstance(result, PermanentFailure)
        assert result.reason == (
            f"address_rejected: {host} resolves to 127.0.0.1, not a public address (loopback)"
        )
    assert webhook_sink.received == []


async def test_private_smtp_targets_are_refused_too(open_apprise, smtp_sink: SmtpSink) -> None:
    channel = await open_apprise(allow_private_targets=False)
    address = f"mailto://127.0.0.1:{smtp_sink.port}?from=clarion@clarion.test&to=alice@example.com&mode=insecure"
    result = await channel.send(outbound_message(address=address))
    assert isinstance(result, PermanentFailure) and "not a public address (loopback)" in result.reason
    assert smtp_sink.received == []


async def test_the_refusal_is_the_channels_own(open_apprise, webhook_sink: WebhookSink) -> None:
    """One channel refusing private targets does not change what another channel, or other code, may reach."""
    strict = await open_apprise(allow_private_targets=False)
    relaxed = await open_apprise()
    address = json_url(webhook_sink)
    results = await asyncio.gather(strict.send(outbound_message(address=address)), relaxed.send(outbound_message(address=address)))
    assert isinstance(results[0], PermanentFailure) and isinstance(results[1], Delivered)
    assert len(webhook_sink.received) == 1
    assert await asyncio.get_running_loop().getaddrinfo("127.0.0.1", 80)


async def test_allowed_schemes(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise(allowed_schemes=["form", "ntfy"])
    result = await channel.send(outbound_message(address=json_url(webhook_sink)))
    assert result == PermanentFailure("address_rejected: scheme 'json' is not in this channel's allowed_schemes (form, ntfy)")
    assert isinstance(await channel.send(outbound_message(address=json_url(webhook_sink, scheme="form"))), Delivered)
    assert len(webhook_sink.received) == 1


def test_options_are_checked(builtin_plugins: PluginManager) -> None:
    with pytest.raises(ChannelConfigError, match=r"channels\.chat\.options\.allowed_schemes: not Apprise schemes: tgarm"):
        builtin_plugins.create_channel("chat", "apprise", {"allowed_schemes": ["tgram", "tgarm"]})
    with pytest.raises(ChannelConfigError, match=r"channels\.chat\.options\.body_format: invalid enum value 'rtf'"):
        builtin_plugins.create_channel("chat", "apprise", {"body_format": "rtf"})
    with pytest.raises(ChannelConfigError, match=r"channels\.chat\.options\.timeout_s: expected float > 0\.0"):
        builtin_plugins.create_channel("chat", "apprise", {"timeout_s": 0})


# Templates and formats -----------------------------------------------------------------------------


async def sent_payload(channel: AppriseChannel, sink: WebhookSink, **fields: Any) -> dict[str, Any]:
    assert isinstance(await channel.send(outbound_message(address=json_url(sink), **fields)), Delivered)
    return dict(json.loads(sink.received[-1].body))


async def test_body_format_html_sends_the_html_part(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise(body_format="html")
    payload = await sent_payload(channel, webhook_sink, subject="S", text="plain", html="<b>rich</b>")
    assert payload["message"] == "<b>rich</b>"
    text_only = await sent_payload(channel, webhook_sink, subject="S", text="only text", html=None)
    assert text_only["message"] == "only text"


async def test_body_format_text_sends_the_text_part(open_apprise, webhook_sink: WebhookSink) -> None:
    channel = await open_apprise(body_format="text")
    payload = await sent_payload(channel, webhook_sink, subject="S", text="plain", html="<b>rich</b>")
    assert payload["message"] == "plain"


async def test_without_a_template_the_event_and_context_make_the_message(open_apprise, webhook_sink) -> None:
    channel = await open_apprise()
    payload = await sent_payload(
        channel,
        webhook_sink,
        event="order-paid",
        subject=None,
        text=None,
        context={"order_id": "A-1001", "total": 12.5, "customer": {"name": "Alice"}},
    )
    assert payload["title"] == "order-paid"
    assert payload["message"] == "Event order-paid\norder_id: A-1001\ntotal: 12.5\ncustomer.name: Alice"


async def test_sends_do_not_block_the_event_loop(open_apprise, webhook_sink: WebhookSink) -> None:
    """The sink answers `/slow` only when told, and it runs on this event loop: a send that
    blocked the loop would never see its request arrive."""
    channel = await open_apprise(timeout_s=60)
    sending = asyncio.ensure_future(channel.send(outbound_message(address=json_url(webhook_sink, "/slow"))))
    while not webhook_sink.received:
        assert not sending.done(), sending
        await asyncio.sleep(0.01)
    webhook_sink.release_slow.set()
    assert isinstance(await sending, Delivered)


# The address kind ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown", "secrets"),
    [
        ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123", "tgram://1...w/-100123/", ["AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"]),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", None, ["TIiajkdnlazkcOXrIdevi7FQ", "A1BRTD4JD"]),
        ("ntfy://alice:s3cr3t-pw@ntfy.example.com/alerts", "ntfy://alice:****@ntfy.example.com/alerts", ["s3cr3t-pw"]),
        ("json://bot:hunter2@hooks.example.com/in?method=PUT", "json://bot:****@hooks.example.com/in?method=PUT", ["hunter2"]),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", None, ["JHMHI8qBe7bk2ZwO5U711o3dV_js"]),
    ],
)
def test_addresses_are_redacted(value: str, shown: str | None, secrets: list[str]) -> None:
    kind = AppriseAddress()
    assert kind.recognises(value)
    kind.check(value)
    redacted = kind.redact(value)
    if shown is not None:
        assert redacted == shown
    assert redacted.split("://")[0] == value.split("://")[0]
    for secret in secrets:
        assert secret not in redacted


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("tgarm://123456789:token/42", "unknown Apprise scheme 'tgarm' (did you mean tgram"),
        ("foo://bar", "unknown Apprise scheme 'foo'"),
        ("not a url", "not an Apprise URL"),
        ("discord://4174216298", "not a valid Discord URL"),
        ("tgram://x", "not a valid Telegram URL"),
    ],
)
def test_invalid_addresses_are_refused_by_the_kind(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(")):
        AppriseAddress().check(value)


def test_what_an_url_hides_is_masked_in_any_message_about_it() -> None:
    """What Apprise's privacy form of a URL does not show is masked in messages about it (an
    Apprise plugin may repeat a token in the exception it raises for a URL it refuses)."""
    value = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123"
    scope = SendScope(secret_fragments(value, AppriseAddress().redact(value)))
    message = "An invalid Telegram Bot Token (123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw) for chat -100123"
    assert scope.scrub(message) == "An invalid Telegram Bot Token (****:****) for chat -100123"


def test_what_the_kind_recognises_without_being_told() -> None:
    kind = AppriseAddress()
    assert kind.recognises("tgram://123/456") and kind.recognises("mailto://user:pw@example.com")
    assert not kind.recognises("https://hooks.example.com/in")  # an http(s) URL is a `url` address
    assert not kind.recognises("foo://bar") and not kind.recognises("alice@example.com")
    assert not kind.recognises("sip://alice@pbx.example.com") and not kind.recognises("ssh://host")
    assert kind.recognises("tgarm://123/456") and kind.recognises("discrod://1/2")  # near misses: refused by check


async def test_apprise_log_records_carry_no_secret(
    open_apprise, webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await open_apprise()
    caplog.set_level(logging.DEBUG, logger="apprise")
    await channel.send(outbound_message(address=json_url(webhook_sink, "/status/500", credentials="bot:hunter2-secret@")))
    assert any("error=500" in record.getMessage() for record in caplog.records)
    assert not [record.getMessage() for record in caplog.records if "hunter2-secret" in record.getMessage()]


async def test_an_unexpected_error_is_a_transient_failure_without_secrets(
    open_apprise, webhook_sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apprise handles its services' errors itself; should it raise, the send still reports a result,
    and the exception's text (which may quote the URL) is masked."""
    channel = await open_apprise()
    address = json_url(webhook_sink, credentials="bot:hunter2-secret@")

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"cannot notify {address}")

    monkeypatch.setattr("apprise.Apprise.notify", explode)
    result = await channel.send(outbound_message(address=address))
    assert isinstance(result, TransientFailure)
    assert result.reason.startswith("apprise_error: RuntimeError: cannot notify json://bot:****@")
    assert "hunter2-secret" not in result.reason


def test_an_https_url_apprise_reads_natively_counts_as_its_service_schemes() -> None:
    """A Teams workflow URL in its https form is a `workflows` URL to Apprise: `allowed_schemes = ["workflows"]` takes it."""
    url = (
        "https://prod-27.westus.logic.azure.com:443/workflows/2b3a1c9e8f1d4e2a9c7b6a5d4e3f2a1b/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"
    )
    assert {"workflow", "workflows"} <= service_schemes(load_service(url))


async def test_allowed_schemes_refuse_other_services(open_apprise) -> None:
    channel = await open_apprise(allowed_schemes=["workflows"])
    refused = await channel.send(outbound_message(address="tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/1"))
    assert refused == PermanentFailure(
        "address_rejected: scheme 'tgram' is not in this channel's allowed_schemes (workflows)"
    )
