"""Delivery metrics by value, on `serve` and on a `clarion worker`, and the worker's own probe endpoints."""

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from delivery_support import (  # noqa: F401
    Bed,
    MailSink,
    bed,
    bed_config,
    catalog,
    delivery_config,
    event,
    mail_sink,
    member,
    running_bed,
    start_worker,
    user,
)

from clarion_test_support import free_port
from test_metrics import sample

DELIVERED = 'clarion_deliveries_total{channel="email",status="delivered"}'
SENDS = 'clarion_send_seconds_count{channel="email"}'
ONE_MEMBER = catalog([user("ann")], [member("ann")], [event()])


async def test_serve_counts_a_delivery_and_its_send_time(bed: Bed, mail_sink: MailSink) -> None:
    before = (await bed.client.get("/metrics")).text
    await bed.apply(ONE_MEMBER)
    await bed.trigger(body={"context": {"order_id": "A-1"}})
    await mail_sink.wait_for(1, timeout=30)
    after = await _metrics_once_recorded(bed.client, "/metrics", sample(before, DELIVERED) + 1)
    assert sample(after, DELIVERED) - sample(before, DELIVERED) == 1
    assert sample(after, SENDS) - sample(before, SENDS) == 1
    assert sample(after, 'clarion_send_seconds_sum{channel="email"}') > sample(before, 'clarion_send_seconds_sum{channel="email"}')


@pytest.mark.slow
async def test_a_worker_serves_health_ready_and_the_same_delivery_metrics(
    make_settings, database_url: str, mail_sink: MailSink, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    config = delivery_config(mail_sink.port, embedded=False)
    (tmp_path / "worker.toml").write_text(config)
    environment = {**os.environ, "CLARION_CONFIG": str(tmp_path / "worker.toml"), "CLARION_DATABASE_URL": database_url}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_bed(make_settings(config)) as api:  # the API without a dispatcher
        await api.apply(ONE_MEMBER)
        worker = await start_worker(environment, tmp_path, probe_port=port)
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                await _until_up(client, worker.log)
                assert (await client.get("/health/")).json() == {"status": "ok"}
                assert (await client.get("/ready/")).json() == {"status": "ok"}
                head = await client.head("/metrics")
                assert head.status_code == 200 and head.content == b""
                assert (await client.get("/nope")).status_code == 404
                assert (await client.post("/health/")).status_code == 405
                before = (await client.get("/metrics")).text
                assert sample(before, DELIVERED) == 0 and sample(before, SENDS) == 0
                await api.trigger(body={"context": {"order_id": "A-1"}})
                await mail_sink.wait_for(1, timeout=30)
                after = await _metrics_once_recorded(client, "/metrics", 1)
                assert sample(after, DELIVERED) == 1 and sample(after, SENDS) == 1
                assert 'clarion_queue_depth{kind="delivery"}' in after
        finally:
            assert await worker.stop() == 0


async def _metrics_once_recorded(client: httpx.AsyncClient, path: str, delivered: float) -> str:
    """The exposition once the delivery's result is recorded (the mail arrives a moment before that)."""
    for _ in range(300):
        text = (await client.get(path)).text
        if sample(text, DELIVERED) >= delivered:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{DELIVERED} never reached {delivered}:\n{text}")


async def _until_up(client: httpx.AsyncClient, log: Path) -> None:
    for _ in range(600):
        try:
            if (await client.get("/health/")).status_code == 200:
                return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"the worker's probes never answered:\n{log.read_text()}")
