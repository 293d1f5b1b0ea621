"""Separate `clarion worker` processes: crash recovery through leases, and (PostgreSQL) many workers."""

import asyncio
from pathlib import Path

import pytest
from delivery_support import (  # noqa: F401
    Bed,
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
    stopped_summary,
    user,
    wait_until,
    worker_processes,
)

from clarion.occurrences.tables import Delivery, Occurrence
from clarion_test_support import ENGINE

pytestmark = pytest.mark.slow


async def all_completed(occurrences: list[str]) -> bool:
    rows = await Occurrence.select(Occurrence.status).where(Occurrence.id.is_in(occurrences))
    return all(row["status"] == "completed" for row in rows)


async def test_a_killed_worker_loses_its_leases_and_another_delivers_everything(
    make_settings, database_url: str, mail_sink: MailSink, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    concurrency = 4
    config = delivery_config(mail_sink.port, embedded=False, lease_s=1, email_concurrency=concurrency)
    mail_sink.delay_s = 0.25  # every message spends a while in flight
    usernames = [f"user{i:02d}" for i in range(15)]
    async with running_bed(make_settings(config)) as bed:  # the API only: no embedded dispatcher
        await bed.apply(catalog([user(name) for name in usernames], [member(name) for name in usernames], [event()]))
        occurrences = [await bed.trigger(body={"context": {"order_id": n}}) for n in range(2)]
        async with worker_processes(config, database_url, tmp_path) as (doomed,):
            await mail_sink.wait_for(6, timeout=30)
            in_flight = await Delivery.count().where(Delivery.claimed_by.is_not_null() & (Delivery.status == "pending"))
            doomed.kill()
            await doomed.process.wait()
        assert in_flight > 0, "the worker was not mid-batch"
        assert not await all_completed(occurrences)
        async with worker_processes(config, database_url, tmp_path) as (rescuer,):
            await wait_until(lambda: all_completed(occurrences), timeout=30, what="every occurrence completed")
            assert await rescuer.stop() == 0
        deliveries = await Delivery.select(Delivery.id, Delivery.status, Delivery.attempts)
    assert len(deliveries) == 30 and {row["status"] for row in deliveries} == {"delivered"}
    counts = mail_sink.counts()
    assert set(counts) == {row["id"] for row in deliveries}  # everything arrived
    twice = [delivery_id for delivery_id, count in counts.items() if count > 1]
    assert len(twice) <= concurrency and max(counts.values()) <= 2  # only what was in flight, at most twice
    assert stopped_summary(rescuer.output)["delivered"] > 0


@pytest.mark.skipif(ENGINE != "postgresql", reason="many workers side by side need PostgreSQL (SKIP LOCKED, LISTEN/NOTIFY)")
async def test_two_workers_deliver_thousands_of_webhooks_none_twice(
    make_settings, database_url: str, hook_sink: HookSink, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    recipients, triggers = 50, 60
    config = delivery_config(1, embedded=False, lease_s=10)
    names = [f"hook{i:02d}" for i in range(recipients)]
    async with running_bed(make_settings(config)) as bed:
        await bed.apply(catalog([user(name, hook=hook_sink.url(name)) for name in names],
                                [member(name, "webhook") for name in names],
                                [event(notifications=[notification(templates={})])]))
        async with worker_processes(config, database_url, tmp_path, count=2) as workers:
            await asyncio.sleep(1.0)  # both are up and LISTENing: the triggers wake them
            occurrences = await asyncio.gather(*(bed.trigger(body={"context": {"n": n}}) for n in range(triggers)))
            await hook_sink.wait_for(recipients * triggers, timeout=60)
            await wait_until(lambda: all_completed(list(occurrences)), timeout=30, what="every occurrence completed")
            assert [await worker.stop() for worker in workers] == [0, 0]
        statuses = {row["status"] for row in await Delivery.select(Delivery.status)}
    counts = hook_sink.counts()
    assert len(counts) == recipients * triggers
    assert max(counts.values()) == 1  # no message sent twice
    assert statuses == {"delivered"}
    summaries = [stopped_summary(worker.output) for worker in workers]
    assert sum(summary["delivered"] for summary in summaries) == recipients * triggers
    assert all(summary["delivered"] > 0 for summary in summaries), summaries  # both took part
