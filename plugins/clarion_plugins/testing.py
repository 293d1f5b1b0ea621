"""A contract test kit for channel plugin authors.

Subclass `ChannelContract` in a test module (the subclass name must start with
`Test`) and provide the fixtures it asks for::

    from clarion_plugins.testing import ChannelContract, outbound_message

    class TestSmsChannel(ChannelContract):
        @pytest.fixture
        def channel_cls(self):
            return SmsChannel

        @pytest.fixture
        def channel_options(self, sms_gateway):
            return {"account": "a", "token": "t", "endpoint": sms_gateway.url}

        @pytest.fixture
        def reachable_message(self):
            return outbound_message(address="+15550100")

The tests are coroutines marked `pytest.mark.asyncio`, so they need
pytest-asyncio (strict or auto mode); they run in the same event loop as the
fixtures, so a test server started by an async fixture is served while they run.
In strict mode, declare async fixtures with `@pytest_asyncio.fixture`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

try:
    import pytest
except ModuleNotFoundError as exc:  # Clarion does not depend on pytest: the kit is for plugin authors' tests
    raise ModuleNotFoundError(
        "clarion_plugins.testing is the test kit for channel plugins and needs pytest: pip install pytest"
    ) from exc

from clarion_plugins.addresses import AddressKind, address_kind_problems
from clarion_plugins.channel import ADDRESS_KINDS, CAPABILITIES, Channel, channel_class_problems
from clarion_plugins.manager import decode_channel_options
from clarion_plugins.messages import (
    Delivered,
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
)

CONTRACT_CHANNEL_NAME = "contract"


def outbound_message(**fields: Any) -> OutboundMessage:
    """An `OutboundMessage` with fresh ids and sample content; `fields` override any field."""
    delivery_id = str(uuid.uuid4())
    defaults: dict[str, Any] = {
        "delivery_id": delivery_id,
        "occurrence_id": str(uuid.uuid4()),
        "idempotency_key": f"clarion-{delivery_id}",
        "channel": CONTRACT_CHANNEL_NAME,
        "event": "contract-test",
        "address": "",
        "subject": "Contract test",
        "text": "Sent by the clarion_plugins contract test kit.",
        "context": {"contract": True},
        "recipient": {"username": "contract", "first_name": "Con", "last_name": "Tract"},
    }
    return OutboundMessage(**(defaults | fields))


class ChannelContract:
    """Tests every channel type must pass. Subclass it and provide the fixtures.

    Fixtures to provide: `channel_cls` (the Channel subclass), `reachable_message`
    (an `OutboundMessage` the channel can deliver). Optional: `channel_options`
    (the `[channels.NAME.options]` mapping; default `{}`),
    `unreachable_message` (one it cannot deliver; default None skips that test) and
    `address_kinds` (the `AddressKind`s the plugin registers; default none).
    """

    concurrent_sends = 5

    @pytest.fixture
    def channel_options(self) -> Mapping[str, Any]:
        return {}

    @pytest.fixture
    def unreachable_message(self) -> OutboundMessage | None:
        return None

    @pytest.fixture
    def address_kinds(self) -> list[AddressKind]:
        return []

    @pytest.fixture
    def channel(self, channel_cls: type[Channel], channel_options: Mapping[str, Any]) -> Channel:
        options = decode_channel_options(CONTRACT_CHANNEL_NAME, channel_cls, channel_options)
        return channel_cls(CONTRACT_CHANNEL_NAME, options)

    def test_class_attributes_are_valid(self, channel_cls: type[Channel], address_kinds: list[AddressKind]) -> None:
        reachable = ADDRESS_KINDS | {kind.name for kind in address_kinds}
        problems = channel_class_problems(channel_cls, reachable)
        assert not problems, "; ".join(problems)
        assert isinstance(channel_cls.type_name, str) and channel_cls.type_name
        assert channel_cls.address_kinds <= reachable
        assert channel_cls.capabilities <= CAPABILITIES

    def test_address_kinds_are_valid_and_take_the_reachable_address(
        self, address_kinds: list[AddressKind], reachable_message: OutboundMessage
    ) -> None:
        for kind in address_kinds:
            problems = address_kind_problems(kind)
            assert not problems, "; ".join(problems)
            assert isinstance(kind.redact(reachable_message.address), str)
        taking = [kind for kind in address_kinds if kind.recognises(reachable_message.address)]
        for kind in taking:
            kind.check(reachable_message.address)

    def test_options_type_is_a_struct_that_forbids_unknown_fields(self, channel_cls: type[Channel]) -> None:
        assert issubclass(channel_cls.options_type, msgspec.Struct)
        forbids_unknown = channel_cls.options_type.__struct_config__.forbid_unknown_fields
        assert (
            forbids_unknown
        ), "declare the options Struct with forbid_unknown_fields=True: a misspelt key is an error"

    def test_options_decode_and_init_keeps_them(self, channel: Channel, channel_cls: type[Channel]) -> None:
        assert channel.name == CONTRACT_CHANNEL_NAME
        assert isinstance(channel.options, channel_cls.options_type)

    @pytest.mark.asyncio
    async def test_open_send_aclose(self, channel: Channel, reachable_message: OutboundMessage) -> None:
        await channel.open()
        try:
            result = await channel.send(reachable_message)
        finally:
            await channel.aclose()
        assert_send_result(result)
        assert isinstance(result, Delivered), f"expected Delivered, got {result!r}"

    @pytest.mark.asyncio
    async def test_aclose_is_idempotent_and_safe_without_open(self, channel: Channel) -> None:
        await channel.aclose()
        await channel.open()
        await channel.aclose()
        await channel.aclose()

    @pytest.mark.asyncio
    async def test_send_after_reopen(self, channel: Channel, reachable_message: OutboundMessage) -> None:
        await channel.open()
        await channel.aclose()
        await channel.open()
        try:
            result = await channel.send(reachable_message)
        finally:
            await channel.aclose()
        assert isinstance(result, Delivered), f"expected Delivered, got {result!r}"

    @pytest.mark.asyncio
    async def test_concurrent_sends(self, channel: Channel, reachable_message: OutboundMessage) -> None:
        messages = [
            msgspec.structs.replace(
                reachable_message,
                delivery_id=f"{reachable_message.delivery_id}-{index}",
                idempotency_key=f"{reachable_message.idempotency_key}-{index}",
            )
            for index in range(self.concurrent_sends)
        ]
        await channel.open()
        try:
            results = await asyncio.gather(*(channel.send(message) for message in messages))
        finally:
            await channel.aclose()
        for result in results:
            assert isinstance(result, Delivered), f"expected Delivered, got {result!r}"

    @pytest.mark.asyncio
    async def test_unreachable_address_is_a_failure_result(
        self, channel: Channel, unreachable_message: OutboundMessage | None
    ) -> None:
        if unreachable_message is None:
            pytest.skip("no unreachable_message fixture")
        await channel.open()
        try:
            result = await channel.send(unreachable_message)
        finally:
            await channel.aclose()
        assert isinstance(result, PermanentFailure | TransientFailure), f"expected a failure, got {result!r}"
        assert result.reason


def assert_send_result(result: object) -> None:
    """Fail unless `result` is one of the three send results."""
    assert isinstance(
        result, Delivered | PermanentFailure | TransientFailure
    ), f"send() must return Delivered, PermanentFailure or TransientFailure, not {result!r}"


__all__ = ["CONTRACT_CHANNEL_NAME", "ChannelContract", "assert_send_result", "outbound_message"]
