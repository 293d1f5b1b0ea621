"""One hanging endpoint does not delay anyone else's webhooks (issue 8 §3): sends are bounded per
destination host as well as per channel, and a send waiting for its host holds no channel slot."""

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from delivery_support import (  # noqa: F401
    Hook,
    HookSink,
    MailSink,
    catalog,
    delivery_config,
    event,
    hook_sink,
    mail_sink,
    member,
    notification,
    running_bed,
    user,
    wait_until,
)

from clarion.occurrences.tables import Delivery

SLOW_TRIGGERS = 16
MAX_CONCURRENCY = 8
MAX_PER_HOST = 4
TIMEOUT_S = 3.0


@dataclass
class HangingEndpoint(HookSink):
    """A `HookSink` that accepts every POST and never answers (until `close`)."""

    open_requests: int = 0
    peak: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        self.release.set()
        await super().close()

    async def _answer(self, request: web.Request) -> web.Response:
        self.received.append(Hook(request.path, dict(request.headers), await request.read(), time.monotonic()))
        self.open_requests += 1
        self.peak = max(self.peak, self.open_requests)
        try:
            await self.release.wait()
        finally:
            self.open_requests -= 1
        return web.Response(status=503)


@pytest.fixture
async def hanging() -> AsyncIterator[HangingEndpoint]:
    endpoint = HangingEndpoint()
    await endpoint.start()
    yield endpoint
    await endpoint.close()


def _config(smtp_port: int) -> str:
    config = delivery_config(smtp_port)
    webhook = "max_concurrency = 16\n[channels.webhook.options]\nallow_private_targets = true\ntimeout_s = 5\n"
    assert webhook in config
    return config.replace(
        webhook,
        f"max_concurrency = {MAX_CONCURRENCY}\n[channels.webhook.options]\nallow_private_targets = true\n"
        f"timeout_s = {TIMEOUT_S}\nmax_per_host = {MAX_PER_HOST}\n",
    )


def _other_organization(document: dict[str, Any]) -> dict[str, Any]:
    other = copy.deepcopy(document)
    organization = other["organizations"][0]
    organization["slug"], organization["name"] = "globex", "Globex"
    organization["api_keys"] = [{"name": "globex-all", "grants": ["full_access"]}]
    return other


async def test_a_hanging_endpoint_does_not_delay_another_organizations_webhook(
    make_settings, mail_sink: MailSink, hook_sink: HookSink, hanging: HangingEndpoint  # type: ignore[no-untyped-def]
) -> None:
    slow_url = f"http://127.0.0.1:{hanging.port}/never"
    fast_url = f"http://localhost:{hook_sink.port}/fast"  # another host: "localhost", not "127.0.0.1"
    webhook_event = [event(notifications=[notification(templates={})])]
    async with running_bed(make_settings(_config(mail_sink.port))) as bed:
        await bed.apply(catalog([user("alice", hook=slow_url)], [member("alice", "webhook")], webhook_event))
        await bed.apply(_other_organization(catalog([user("bob", hook=fast_url)], [member("bob", "webhook")],
                                                    webhook_event)))
        slow = [await bed.trigger(body={"context": {"n": n}}) for n in range(SLOW_TRIGGERS)]
        await wait_until(lambda: len(hanging.received) >= MAX_PER_HOST, what="the hanging endpoint's requests")

        started = time.monotonic()
        response = await bed.client.post("/api/o/globex/p/web/a/shop/e/order-paid/trigger/", json={},
                                         headers=bed.key("globex-all"))
        assert response.status_code == 201, response.text
        await hook_sink.wait_for(1, timeout=TIMEOUT_S)
        waited = time.monotonic() - started

        assert waited < 1.0, f"the fast endpoint waited {waited:.2f}s behind the hanging one"
        # the hanging host got its slots and not one request more; the rest were deferred, not sent
        assert (len(hanging.received), hanging.peak, hanging.open_requests) == (MAX_PER_HOST,) * 3
        rows = await Delivery.select(Delivery.status, Delivery.attempts, Delivery.last_error).where(
            Delivery.occurrence.is_in(slow)
        )
        busy = (f"host_busy: {MAX_PER_HOST} requests to 127.0.0.1 in flight (max_per_host = {MAX_PER_HOST});"
                " not sent, tried again later")
        assert len(rows) == SLOW_TRIGGERS and all(row["status"] == "pending" for row in rows)
        assert {row["last_error"] for row in rows} == {None, busy}  # None: in flight (or being deferred)
        assert all(row["attempts"] <= 1 for row in rows)  # a deferral is not an attempt
        assert sum(row["last_error"] == busy and row["attempts"] == 0 for row in rows) >= 1
        await hanging.close()  # let the hanging requests end so the dispatcher stops promptly
