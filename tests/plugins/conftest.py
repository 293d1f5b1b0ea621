"""Fixtures for the channel plugin tests: real SMTP/HTTP sinks and TLS material."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import trustme
from plugin_sinks import SmtpSink, WebhookSink

from clarion_plugins import Channel, PluginManager

BUILTIN_PLUGINS = ("clarion_channels.email", "clarion_channels.webhook", "clarion_channels.apprise")


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def cert_bundle(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA file trusting the test CA: what `cert_bundle` names for a self-signed server."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_tls_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def make_smtp_sink() -> Iterator[Callable[..., SmtpSink]]:
    """Starts SMTP sinks with aiosmtpd SMTP parameters (tls_context, auth_required, ...)."""
    sinks: list[SmtpSink] = []

    def start(**smtp_parameters: Any) -> SmtpSink:
        sink = SmtpSink(**smtp_parameters)
        sink.start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.stop()


@pytest.fixture
def smtp_sink(make_smtp_sink: Callable[..., SmtpSink]) -> SmtpSink:
    """A plain SMTP server on 127.0.0.1."""
    return make_smtp_sink()


@pytest.fixture
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    """An HTTP server on 127.0.0.1 recording the webhooks it receives."""
    sink = WebhookSink()
    await sink.start()
    yield sink
    await sink.close()


@pytest.fixture
def builtin_plugins() -> PluginManager:
    """A plugin manager with the built-in channel types only (nothing installed is looked at)."""
    manager = PluginManager(builtins=BUILTIN_PLUGINS, entry_points=False)
    manager.load()
    return manager


@pytest.fixture
async def open_channel(
    builtin_plugins: PluginManager,
) -> AsyncIterator[Callable[[str, str, dict[str, Any]], Awaitable[Channel]]]:
    """Creates and opens channels as the service would; all are closed after the test."""
    channels: list[Channel] = []

    async def create_and_open(name: str, type_name: str, options: dict[str, Any]) -> Channel:
        channel = builtin_plugins.create_channel(name, type_name, options)
        await channel.open()
        channels.append(channel)
        return channel

    yield create_and_open
    for channel in channels:
        await channel.aclose()
