"""The built-in `email` channel: SMTP through aiosmtplib over a pool of reused connections."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
import msgspec

from clarion_channels.constraints import Port, PositiveFloat, PositiveInt
from clarion_plugins import (
    Channel,
    Delivered,
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    hookimpl,
)

logger = logging.getLogger(__name__)

_MESSAGE_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
_QUIT_TIMEOUT_S = 2.0


class EmailOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[channels.NAME.options]` of an `email` channel."""

    host: str
    sender: str
    """The From header, e.g. "Clarion <clarion@example.com>"; its address is the envelope sender."""
    port: Port = 25
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    """Implicit TLS from the first byte (usually port 465)."""
    start_tls: bool | None = None
    """None: upgrade when the server offers STARTTLS; True: require it; False: never."""
    validate_certs: bool = True
    cert_bundle: str | None = None
    """A CA file to trust, e.g. for a server with a self-signed certificate."""
    timeout_s: PositiveFloat = 15.0
    max_connections: PositiveInt = 8
    """How many SMTP connections the channel keeps open at most."""
    local_hostname: str | None = None
    """The name sent in EHLO; default: this host's fully qualified name."""

    def __post_init__(self) -> None:
        if self.use_tls and self.start_tls:
            raise ValueError("use_tls (implicit TLS) and start_tls cannot both be true")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        if "\r" in self.sender or "\n" in self.sender or "@" not in parseaddr(self.sender)[1]:
            raise ValueError(f"sender is not a mailbox: {self.sender!r}")

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]


class AddressRejected(ValueError):
    """The recipient address cannot be used as a mailbox."""


class SmtpConnectionPool:
    """Connected SMTP clients of one channel, each used by one send at a time.

    aiosmtplib has no pool: this keeps idle clients for reuse, at most `size`
    clients exist at once, and a reused client the server has dropped is
    reopened once.
    """

    def __init__(self, open_client: Callable[[], Awaitable[aiosmtplib.SMTP]], size: int) -> None:
        self._open_client = open_client
        self._slots = asyncio.Semaphore(size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._closed = False

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> str:
        """Send `message` over a pooled connection; returns the server's reply to DATA."""
        async with self._slots:
            client = self._take_idle()
            reused = client is not None
            keep = False
            try:
                if client is None:
                    client = await self._open_client()
                try:
                    _, reply = await client.send_message(message, sender=sender, recipients=[recipient])
                except aiosmtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    logger.debug("pooled SMTP connection was dropped by the server; reconnecting")
                    client.close()
                    client = await self._open_client()
                    _, reply = await client.send_message(message, sender=sender, recipients=[recipient])
                keep = True
                return reply
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                # aiosmtplib has reset the envelope: the connection is still usable.
                keep = True
                raise
            finally:
                if client is not None:
                    self._give_back(client, keep)

    async def close(self) -> None:
        """Say QUIT on idle connections; connections in use are closed when their send ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit_quietly(client) for client in idle))

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            client.close()
        return None

    def _give_back(self, client: aiosmtplib.SMTP, keep: bool) -> None:
        if keep and not self._closed and client.is_connected:
            self._idle.append(client)
        else:
            client.close()


async def _quit_quietly(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit(timeout=_QUIT_TIMEOUT_S)
    except (aiosmtplib.SMTPException, OSError):
        client.close()


class EmailChannel(Channel[EmailOptions]):
    """Sends each message as one email to the recipient's mailbox."""

    type_name = "email"
    options_type = EmailOptions
    address_kinds = frozenset({"email"})
    capabilities = frozenset({"subject", "text", "html"})

    def __init__(self, name: str, options: EmailOptions) -> None:
        super().__init__(name, options)
        self._pool: SmtpConnectionPool | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._local_hostname = options.local_hostname

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._tls_context = await asyncio.to_thread(build_tls_context, self.options)
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        self._pool = SmtpConnectionPool(self._open_client, self.options.max_connections)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def send(self, message: OutboundMessage) -> Delivered | PermanentFailure | TransientFailure:
        pool = self._pool
        if pool is None:
            raise RuntimeError(f"email channel {self.name!r} is not open")
        try:
            recipient = parse_recipient(message.address)
        except AddressRejected as exc:
            return PermanentFailure(f"address_rejected: {exc}")
        email_message = build_email(message, self.options.sender, recipient)
        try:
            await pool.send(email_message, self.options.envelope_sender, recipient.addr_spec)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return failure_from_smtp_error(exc)
        return Delivered(provider_id=email_message["Message-ID"])

    async def probe(self) -> str:
        """Connect (with TLS and login as configured), EHLO, quit."""
        await self.open()
        try:
            client = await self._open_client()
            await client.ehlo()
            await _quit_quietly(client)
        finally:
            await self.aclose()
        return f"SMTP {self.options.host}:{self.options.port} answered EHLO"

    async def _open_client(self) -> aiosmtplib.SMTP:
        options = self.options
        client = aiosmtplib.SMTP(
            hostname=options.host,
            port=options.port,
            username=options.username,
            password=options.password,
            use_tls=options.use_tls,
            start_tls=options.start_tls,
            tls_context=self._tls_context,
            timeout=options.timeout_s,
            local_hostname=self._local_hostname,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()
            # The transport closes its socket on the loop's next turn: give it that turn, so a
            # refused connection (a failed STARTTLS) leaves no open socket behind.
            await asyncio.sleep(0)
            raise
        return client


def build_tls_context(options: EmailOptions) -> ssl.SSLContext:
    """The TLS context for implicit TLS and STARTTLS, built once per `open()`."""
    context = ssl.create_default_context(cafile=options.cert_bundle)
    if not options.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def parse_recipient(address: str) -> Address:
    """The recipient mailbox; a value that could smuggle headers or is no mailbox is rejected."""
    if "\r" in address or "\n" in address:
        raise AddressRejected("address contains a line break")
    try:
        mailbox = Address(addr_spec=address.strip())
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise AddressRejected(f"not a mailbox: {address!r}") from exc
    if not mailbox.username or not mailbox.domain:
        raise AddressRejected(f"not a mailbox: {address!r}")
    return mailbox


def single_line(value: str) -> str:
    """`value` with every line break folded into one space, so it cannot start a new header."""
    return " ".join(part.strip() for part in value.splitlines() if part.strip())


def build_email(message: OutboundMessage, sender: str, recipient: Address) -> EmailMessage:
    """The email for `message`: text, an HTML alternative when there is HTML, and tracking headers."""
    email_message = EmailMessage()
    email_message["From"] = sender
    email_message["To"] = recipient
    email_message["Subject"] = single_line(message.subject or "")
    email_message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "clarion"
    email_message["Message-ID"] = f"<{_MESSAGE_ID_UNSAFE.sub('-', message.idempotency_key)}@{domain}>"
    email_message["Clarion-Delivery-Id"] = single_line(message.delivery_id)
    email_message["Auto-Submitted"] = "auto-generated"
    if message.text is not None or message.html is None:
        email_message.set_content(message.text or "")
        if message.html is not None:
            email_message.add_alternative(message.html, subtype="html")
    else:
        email_message.set_content(message.html, subtype="html")
    return email_message


def failure_from_smtp_error(exc: Exception) -> PermanentFailure | TransientFailure:
    """Map an SMTP or network error to a result: 5xx replies are permanent, the rest transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0]
        return _by_reply_code(
            refused.code, f"recipient_refused: {refused.code} {single_line(refused.message)}"
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPConnectError):
        # A problem of the channel (credentials, server), not of this message.
        return TransientFailure(f"smtp_connect_failed: {_describe(exc)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_reply_code(exc.code, f"smtp_{exc.code}: {single_line(exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentFailure(f"smtp_not_supported: {_describe(exc)}")
    if isinstance(exc, TimeoutError):
        return TransientFailure(f"timeout: {_describe(exc)}")
    return TransientFailure(f"connection_error: {_describe(exc)}")


def _by_reply_code(code: int, reason: str) -> PermanentFailure | TransientFailure:
    if 500 <= code < 600:
        return PermanentFailure(reason)
    return TransientFailure(reason)


def _describe(exc: Exception) -> str:
    return single_line(str(exc)) or type(exc).__name__


@hookimpl
def register_channel_types(register: Callable[[type[Channel]], None]) -> None:
    register(EmailChannel)
