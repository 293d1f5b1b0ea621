"""The built-in email channel against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from plugin_sinks import SMTP_PASSWORD, SMTP_USER, SmtpSink, authenticate, free_port

from clarion_channels.email import EmailChannel
from clarion_plugins import ChannelConfigError, Delivered, PermanentFailure, PluginManager, TransientFailure
from clarion_plugins.testing import outbound_message

pytestmark = pytest.mark.no_db

RECIPIENT = "alice@example.com"


@pytest.fixture
def open_email_channel(open_channel) -> Callable[..., Awaitable[EmailChannel]]:
    """Opens an email channel named "mail" on the sink's port; `options` override the defaults."""

    async def open_email(sink_port: int, **options: Any) -> EmailChannel:
        defaults = {
            "host": "127.0.0.1",
            "port": sink_port,
            "sender": "Clarion <clarion@clarion.test>",
            "local_hostname": "client.clarion.test",
            "timeout_s": 5.0,
        }
        return await open_channel("mail", "email", defaults | options)

    return open_email


async def test_plain_text_mail_is_delivered(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)
    message = outbound_message(channel="mail", address=RECIPIENT, subject="Order 42 paid", text="Hi Alice")

    result = await channel.send(message)

    assert isinstance(result, Delivered)
    [mail] = smtp_sink.received
    assert mail.mail_from == "clarion@clarion.test"
    assert mail.rcpt_tos == [RECIPIENT]
    assert mail.message["Subject"] == "Order 42 paid"
    assert mail.message["To"] == RECIPIENT
    assert mail.message["Clarion-Delivery-Id"] == message.delivery_id
    assert mail.message["Message-ID"] == result.provider_id
    assert message.idempotency_key in result.provider_id
    assert mail.message.get_content().strip() == "Hi Alice"


async def test_html_is_sent_as_an_alternative_to_text(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)

    result = await channel.send(
        outbound_message(address=RECIPIENT, text="plain body", html="<p>html body</p>")
    )

    assert isinstance(result, Delivered)
    mail = smtp_sink.received[0].message
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip() == "plain body"
    assert mail.get_body(("html",)).get_content().strip() == "<p>html body</p>"


async def test_message_id_is_stable_across_retries(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)
    first = outbound_message(address=RECIPIENT, idempotency_key="occ-1.delivery-7")

    results = [
        await channel.send(first),
        await channel.send(
            outbound_message(address=RECIPIENT, idempotency_key="occ-1.delivery-7", attempt=2)
        ),
    ]

    assert results[0].provider_id == results[1].provider_id
    assert [mail.message["Message-ID"] for mail in smtp_sink.received] == [results[0].provider_id] * 2


async def test_starttls_with_self_signed_ca(
    make_smtp_sink: Callable[..., SmtpSink],
    server_tls_context: ssl.SSLContext,
    cert_bundle: str,
    open_email_channel,
) -> None:
    sink = make_smtp_sink(tls_context=server_tls_context, require_starttls=True)
    channel = await open_email_channel(sink.port, start_tls=True, cert_bundle=cert_bundle)

    result = await channel.send(outbound_message(address=RECIPIENT))

    assert isinstance(result, Delivered)
    assert len(sink.received) == 1


async def test_starttls_refuses_an_untrusted_certificate(
    make_smtp_sink: Callable[..., SmtpSink], server_tls_context: ssl.SSLContext, open_email_channel
) -> None:
    sink = make_smtp_sink(tls_context=server_tls_context, require_starttls=True)
    channel = await open_email_channel(sink.port, start_tls=True)

    result = await channel.send(outbound_message(address=RECIPIENT))

    assert isinstance(result, TransientFailure)
    assert sink.received == []


async def test_implicit_tls_with_self_signed_ca(
    make_smtp_sink: Callable[..., SmtpSink],
    server_tls_context: ssl.SSLContext,
    cert_bundle: str,
    open_email_channel,
) -> None:
    sink = make_smtp_sink(ssl_context=server_tls_context)
    channel = await open_email_channel(sink.port, use_tls=True, cert_bundle=cert_bundle)

    result = await channel.send(outbound_message(address=RECIPIENT))

    assert isinstance(result, Delivered)
    assert len(sink.received) == 1


async def test_auth_over_starttls(
    make_smtp_sink: Callable[..., SmtpSink],
    server_tls_context: ssl.SSLContext,
    cert_bundle: str,
    open_email_channel,
) -> None:
    sink = make_smtp_sink(
        tls_context=server_tls_context, require_starttls=True, auth_required=True, authenticator=authenticate
    )
    good = await open_email_channel(
        sink.port, start_tls=True, cert_bundle=cert_bundle, username=SMTP_USER, password=SMTP_PASSWORD
    )
    anonymous = await open_email_channel(sink.port, start_tls=True, cert_bundle=cert_bundle)
    wrong = await open_email_channel(
        sink.port, start_tls=True, cert_bundle=cert_bundle, username=SMTP_USER, password="wrong"
    )

    assert isinstance(await good.send(outbound_message(address=RECIPIENT)), Delivered)
    refused_without_auth = await anonymous.send(outbound_message(address=RECIPIENT))
    refused_bad_password = await wrong.send(outbound_message(address=RECIPIENT))

    assert isinstance(refused_without_auth, PermanentFailure) and "530" in refused_without_auth.reason
    assert isinstance(refused_bad_password, TransientFailure)
    assert refused_bad_password.reason.startswith("smtp_connect_failed")
    assert len(sink.received) == 1


async def test_line_breaks_in_subject_add_no_header(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)

    result = await channel.send(
        outbound_message(address=RECIPIENT, subject="Hello\r\nBcc: mallory@example.com\nX-Evil: 1")
    )

    assert isinstance(result, Delivered)
    [mail] = smtp_sink.received
    assert mail.rcpt_tos == [RECIPIENT]
    assert mail.message["Bcc"] is None and mail.message["X-Evil"] is None
    assert mail.message["Subject"] == "Hello Bcc: mallory@example.com X-Evil: 1"


@pytest.mark.parametrize(
    "address",
    [
        f"{RECIPIENT}\r\nBcc: mallory@example.com",
        f"{RECIPIENT}\nBcc: mallory@example.com",
        "not an address",
        "mallory@example.com, alice@example.com",
    ],
)
async def test_unusable_address_is_rejected_permanently(
    smtp_sink: SmtpSink, open_email_channel, address: str
) -> None:
    channel = await open_email_channel(smtp_sink.port)

    result = await channel.send(outbound_message(address=address))

    assert isinstance(result, PermanentFailure)
    assert result.reason.startswith("address_rejected: ")
    assert smtp_sink.received == []


async def test_451_is_transient_and_550_permanent(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)

    smtp_sink.handler.data_reply = "451 4.3.0 try again later"
    try_later = await channel.send(outbound_message(address=RECIPIENT))
    smtp_sink.handler.data_reply = "550 5.7.1 message refused"
    refused = await channel.send(outbound_message(address=RECIPIENT))
    smtp_sink.handler.data_reply = None
    smtp_sink.handler.rcpt_reply = "550 5.1.1 no such user"
    no_such_user = await channel.send(outbound_message(address=RECIPIENT))
    smtp_sink.handler.rcpt_reply = "450 4.2.1 mailbox busy"
    mailbox_busy = await channel.send(outbound_message(address=RECIPIENT))
    smtp_sink.handler.rcpt_reply = None
    after_errors = await channel.send(outbound_message(address=RECIPIENT))

    assert try_later == TransientFailure("smtp_451: 4.3.0 try again later")
    assert refused == PermanentFailure("smtp_550: 5.7.1 message refused")
    assert no_such_user == PermanentFailure("recipient_refused: 550 5.1.1 no such user")
    assert isinstance(mailbox_busy, TransientFailure) and mailbox_busy.reason.startswith(
        "recipient_refused: 450"
    )
    assert isinstance(after_errors, Delivered)
    assert smtp_sink.connection_count == 1


async def test_stopped_server_is_a_transient_failure(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)
    assert isinstance(await channel.send(outbound_message(address=RECIPIENT)), Delivered)

    smtp_sink.stop()
    result = await channel.send(outbound_message(address=RECIPIENT))

    assert isinstance(result, TransientFailure)


async def test_nothing_listening_is_a_transient_failure(open_email_channel) -> None:
    channel = await open_email_channel(free_port())

    result = await channel.send(outbound_message(address=RECIPIENT))

    assert isinstance(result, TransientFailure)
    assert result.reason.startswith("smtp_connect_failed")


async def test_connections_are_reused(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)

    results = [await channel.send(outbound_message(address=RECIPIENT)) for _ in range(5)]

    assert all(isinstance(result, Delivered) for result in results)
    assert len(smtp_sink.received) == 5
    assert smtp_sink.connection_count == 1


async def test_concurrent_sends_are_bounded_by_max_connections(
    smtp_sink: SmtpSink, open_email_channel
) -> None:
    channel = await open_email_channel(smtp_sink.port, max_connections=2)

    results = await asyncio.gather(*(channel.send(outbound_message(address=RECIPIENT)) for _ in range(12)))

    assert all(isinstance(result, Delivered) for result in results)
    assert len(smtp_sink.received) == 12
    assert smtp_sink.connection_count <= 2


async def test_reconnects_after_the_server_drops_the_connection(
    smtp_sink: SmtpSink, open_email_channel
) -> None:
    channel = await open_email_channel(smtp_sink.port)
    assert isinstance(await channel.send(outbound_message(address=RECIPIENT)), Delivered)

    smtp_sink.drop_connections()
    immediately = await channel.send(outbound_message(address=RECIPIENT))
    smtp_sink.drop_connections()
    await asyncio.sleep(0.1)
    after_a_while = await channel.send(outbound_message(address=RECIPIENT))

    assert isinstance(immediately, Delivered)
    assert isinstance(after_a_while, Delivered)
    assert len(smtp_sink.received) == 3
    assert smtp_sink.connection_count == 3


async def test_aclose_quits_and_reopen_works(smtp_sink: SmtpSink, open_email_channel) -> None:
    channel = await open_email_channel(smtp_sink.port)
    assert isinstance(await channel.send(outbound_message(address=RECIPIENT)), Delivered)

    await channel.aclose()
    await channel.aclose()
    with pytest.raises(RuntimeError, match="not open"):
        await channel.send(outbound_message(address=RECIPIENT))
    await channel.open()

    assert isinstance(await channel.send(outbound_message(address=RECIPIENT)), Delivered)
    assert smtp_sink.connection_count == 2


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"host": "127.0.0.1"}, "channels.mail.options.sender: required key missing"),
        ({"host": "h", "sender": "a@b", "port": "25"}, "channels.mail.options.port: expected int, got str"),
        ({"host": "h", "sender": "a@b", "port": 0}, "channels.mail.options.port: expected int >= 1"),
        ({"host": "h", "sender": "a@b", "tls": True}, "channels.mail.options.tls: unknown key"),
        (
            {"host": "h", "sender": "a@b", "use_tls": True, "start_tls": True},
            "channels.mail.options: use_tls",
        ),
        ({"host": "h", "sender": "a@b", "username": "u"}, "channels.mail.options: username and password"),
        ({"host": "h", "sender": "nobody"}, "channels.mail.options: sender is not a mailbox"),
    ],
)
def test_option_errors_name_the_key(
    builtin_plugins: PluginManager, options: dict[str, Any], error: str
) -> None:
    with pytest.raises(ChannelConfigError) as raised:
        builtin_plugins.create_channel("mail", "email", options)
    assert str(raised.value).startswith(error)
