"""The built-in channels pass the plugin authors' contract kit, and the kit catches a bad channel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from plugin_sinks import SmtpSink, WebhookSink, free_port

from clarion_channels.email import EmailChannel
from clarion_channels.webhook import WebhookChannel
from clarion_plugins import OutboundMessage
from clarion_plugins.testing import ChannelContract, outbound_message

pytestmark = pytest.mark.no_db


class TestEmailChannelContract(ChannelContract):
    @pytest.fixture
    def channel_cls(self) -> type[EmailChannel]:
        return EmailChannel

    @pytest.fixture
    def channel_options(self, smtp_sink: SmtpSink) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": smtp_sink.port,
            "sender": "clarion@clarion.test",
            "local_hostname": "client.clarion.test",
        }

    @pytest.fixture
    def reachable_message(self) -> OutboundMessage:
        return outbound_message(address="alice@example.com")

    @pytest.fixture
    def unreachable_message(self) -> OutboundMessage:
        return outbound_message(address="no mailbox here")


class TestWebhookChannelContract(ChannelContract):
    @pytest.fixture
    def channel_cls(self) -> type[WebhookChannel]:
        return WebhookChannel

    @pytest.fixture
    def channel_options(self) -> dict[str, Any]:
        # max_per_host above the kit's concurrent sends to one URL: deferring is tested on its own
        return {"allow_private_targets": True, "secret": "whsec_c2VjcmV0LWtleS1mb3ItdGhlLWNvbnRyYWN0", "max_per_host": 8}

    @pytest.fixture
    def reachable_message(self, webhook_sink: WebhookSink) -> OutboundMessage:
        return outbound_message(address=webhook_sink.url())

    @pytest.fixture
    def unreachable_message(self) -> OutboundMessage:
        return outbound_message(address=f"http://127.0.0.1:{free_port()}/nobody-listens")


BAD_CHANNEL_TESTS = """
    import pytest

    from clarion_plugins import Channel, Delivered, hookimpl
    from clarion_plugins.testing import ChannelContract, outbound_message


    class LeakyChannel(Channel):
        type_name = "Leaky Channel"
        address_kinds = frozenset({"carrier-pigeon"})

        async def open(self):
            self.connections = 1

        async def aclose(self):
            del self.connections

        async def send(self, message):
            return "sent, probably"


    class TestLeakyChannel(ChannelContract):
        @pytest.fixture
        def channel_cls(self):
            return LeakyChannel

        @pytest.fixture
        def reachable_message(self):
            return outbound_message(address="coop 7")
"""


def test_the_kit_reports_what_is_wrong_with_a_bad_channel(tmp_path: Path) -> None:
    test_file = tmp_path / "test_leaky_channel.py"
    test_file.write_text(textwrap.dedent(BAD_CHANNEL_TESTS))

    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", str(test_file), "-q", "-rf", "-p", "no:cacheprovider"),
            *("--rootdir", str(tmp_path), "-o", "asyncio_default_fixture_loop_scope=function"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )

    failed = {
        line.split("::")[-1].split(" ")[0] for line in run.stdout.splitlines() if line.startswith("FAILED")
    }
    assert failed == {
        "test_class_attributes_are_valid",
        "test_open_send_aclose",
        "test_aclose_is_idempotent_and_safe_without_open",
        "test_send_after_reopen",
        "test_concurrent_sends",
    }, run.stdout
    assert "type_name must be lowercase" in run.stdout
