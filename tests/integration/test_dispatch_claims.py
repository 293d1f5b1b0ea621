"""Claims and leases on the engine under test: limits, no row twice, expiry, renewal, release,
and re-expansion never duplicating deliveries."""

import asyncio

import pytest
from delivery_support import Bed, HookSink, bed, catalog, delivery_config, event, hook_sink, member, notification, user  # noqa: F401

from clarion.occurrences.store.claims import Claims
from clarion.db.sql import utcnow
from clarion.occurrences.planning import plan_occurrence
from clarion.occurrences.store.expansion import store_expansions
from clarion.occurrences.tables import Delivery, Occurrence

RECIPIENTS = 12


@pytest.fixture
def bed_config() -> str:
    return delivery_config(1, embedded=False)  # nothing dispatches but the test


def claims(worker: str, lease_s: float = 30.0) -> Claims:
    return Claims(worker_id=worker, lease_s=lease_s, postgres=Occurrence._meta.db.engine_type == "postgres")


@pytest.fixture
async def occurrences(bed: Bed, hook_sink: HookSink) -> list[str]:
    names = [f"u{i:02d}" for i in range(RECIPIENTS)]
    await bed.apply(catalog([user(name, hook=hook_sink.url(name)) for name in names],
                            [member(name, "webhook") for name in names],
                            [event(notifications=[notification(templates={})])]))
    return [await bed.trigger() for _ in range(5)]


async def expand(bed: Bed, worker: Claims, limit: int = 1) -> list[str]:
    """Claim and expand `limit` occurrences, leaving every delivery unclaimed."""
    plans = [await plan_occurrence(record, bed.runtime.channels, bed.runtime.renderer)
             for record in await worker.claim_occurrences(limit)]
    stored = await store_expansions(plans, worker_id=worker.worker_id, lease_s=30, now=utcnow(), capacity=lambda _: 0)
    return [expansion.plan.occurrence.id for expansion in stored]


async def test_occurrence_claims_take_the_oldest_up_to_the_limit_never_twice(bed: Bed, occurrences: list[str]) -> None:
    a, b = claims("a"), claims("b")
    first = [record.id for record in await a.claim_occurrences(2)]
    second = [record.id for record in await b.claim_occurrences(2)]
    assert first == occurrences[:2] and second == occurrences[2:4]
    both = await asyncio.gather(a.claim_occurrences(5), b.claim_occurrences(5))
    assert sorted(record.id for result in both for record in result) == occurrences[4:]


async def test_delivery_claims_respect_the_limit_and_never_overlap(bed: Bed, occurrences: list[str]) -> None:
    a, b = claims("a"), claims("b")
    await expand(bed, a, limit=5)
    assert await a.due_by_channel() == {"webhook": 5 * RECIPIENTS}
    first, second = await asyncio.gather(a.claim_deliveries({"webhook": 7}), b.claim_deliveries({"webhook": 7}))
    assert len(first) == len(second) == 7 and not set(first) & set(second)
    rounds = await asyncio.gather(*(worker.claim_deliveries({"webhook": 9}) for worker in (a, b) * 3))
    taken = [delivery_id for claimed in rounds for delivery_id in claimed]
    assert all(len(claimed) <= 9 for claimed in rounds)
    assert len(taken) == len(set(taken)) == 5 * RECIPIENTS - 14 and not set(taken) & (set(first) | set(second))
    assert await a.due_by_channel() == {}
    loaded = await a.load_claimed(first + second)
    assert sorted(delivery.id for delivery in loaded) == sorted(first)  # only its own
    assert {delivery.attempt for delivery in loaded} == {1}


async def test_an_expired_lease_is_claimable_again_and_counts_an_attempt(bed: Bed, occurrences: list[str]) -> None:
    a, b = claims("a", lease_s=0.3), claims("b")
    await expand(bed, a)
    assert len(await a.claim_deliveries({"webhook": 100})) == RECIPIENTS
    assert await b.claim_deliveries({"webhook": 100}) == []
    await asyncio.sleep(0.35)  # a "died"
    taken = await b.claim_deliveries({"webhook": 100})
    assert len(taken) == RECIPIENTS
    assert {delivery.attempt for delivery in await b.load_claimed(taken)} == {2}


async def test_renewed_leases_stay_and_released_ones_are_free_at_once(bed: Bed, occurrences: list[str]) -> None:
    a, b = claims("a", lease_s=0.4), claims("b")
    await expand(bed, a)
    await a.claim_deliveries({"webhook": 5})
    [held] = await a.claim_occurrences(1)
    for _ in range(3):
        await asyncio.sleep(0.2)
        await a.renew()
    assert await b.claim_deliveries({"webhook": 100}) != [] and await b.claim_deliveries({"webhook": 100}) == []
    assert held.id not in [record.id for record in await b.claim_occurrences(10)]
    assert await a.release() == 6
    released = await b.claim_deliveries({"webhook": 100})
    assert len(released) == 5
    assert {delivery.attempt for delivery in await b.load_claimed(released)} == {1}  # the given-back try did not count
    assert [record.id for record in await b.claim_occurrences(10)] == [held.id]


async def test_expanding_again_never_duplicates_deliveries(bed: Bed, occurrences: list[str]) -> None:
    a = claims("a")
    [record] = await a.claim_occurrences(1)
    plan = await plan_occurrence(record, bed.runtime.channels, bed.runtime.renderer)
    await store_expansions([plan], worker_id="a", lease_s=30, now=utcnow(), capacity=lambda _: 0)
    # A crash after the commit but before anything else: the occurrence is set back and re-expanded.
    await Occurrence.update({Occurrence.status: "pending", Occurrence.claimed_by: "a"}).where(Occurrence.id == record.id)
    replan = await plan_occurrence(record, bed.runtime.channels, bed.runtime.renderer)
    stored = await store_expansions([replan], worker_id="a", lease_s=30, now=utcnow(), capacity=lambda _: 1)
    assert stored[0].claimed == []  # the rows already existed: nothing new to send
    assert await Delivery.count().where(Delivery.occurrence == record.id) == RECIPIENTS


async def test_a_lost_claim_writes_nothing(bed: Bed, occurrences: list[str]) -> None:
    a, b = claims("a", lease_s=0.1), claims("b")
    [record] = await a.claim_occurrences(1)
    plan = await plan_occurrence(record, bed.runtime.channels, bed.runtime.renderer)
    await asyncio.sleep(0.15)
    assert [taken.id for taken in await b.claim_occurrences(1)] == [record.id]
    assert await store_expansions([plan], worker_id="a", lease_s=30, now=utcnow(), capacity=lambda _: 1) == []
    assert await Delivery.count() == 0
