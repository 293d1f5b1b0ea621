"""A sample Clarion channel plugin: SMS through an HTTP gateway."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import msgspec

from clarion_plugins import (
    Channel,
    Delivered,
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    hookimpl,
)


class SmsOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    account: str
    token: str
    endpoint: str
    """The gateway URL each message is POSTed to."""
    timeout_s: float = 10.0


class SmsRequest(msgspec.Struct, kw_only=True):
    account: str
    to: str
    text: str
    reference: str


class SmsChannel(Channel[SmsOptions]):
    type_name = "sms"
    options_type = SmsOptions
    address_kinds = frozenset({"phone"})
    capabilities = frozenset({"text"})

    def __init__(self, name: str, options: SmsOptions) -> None:
        super().__init__(name, options)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
                headers={"authorization": f"Bearer {self.options.token}"},
            )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, message: OutboundMessage) -> Delivered | PermanentFailure | TransientFailure:
        if self._session is None:
            raise RuntimeError(f"sms channel {self.name!r} is not open")
        request = SmsRequest(
            account=self.options.account,
            to=message.address,
            text=message.text or "",
            reference=message.idempotency_key,
        )
        try:
            async with self._session.post(
                self.options.endpoint,
                data=msgspec.json.encode(request),
                headers={"content-type": "application/json"},
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return TransientFailure(f"gateway_unreachable: {exc}")
        if 200 <= response.status < 300:
            return Delivered(provider_id=response.headers.get("x-message-id"))
        if response.status == 429 or response.status >= 500:
            return TransientFailure(f"http_{response.status}")
        return PermanentFailure(f"http_{response.status}: {body[:200].decode(errors='replace')}")


@hookimpl
def register_channel_types(register: Callable[[type[Channel]], None]) -> None:
    register(SmsChannel)
