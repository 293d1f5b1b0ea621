"""`Idempotency-Key` on triggers: replay, 422, 409, only 201s remembered, expiry (SPEC §4)."""

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from events_api_support import ORDER_PAID, SHOP, Api, api, api_settings  # noqa: F401

from clarion.occurrences import trigger as services
from clarion.occurrences.tables import IdempotencyRecord
from clarion.occurrences.tables import Occurrence

BODY = {"context": {"order_id": 7}, "options": {"channels": ["email"]}}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_a_repeat_replays_the_first_answer_and_creates_nothing(api: Api) -> None:
    first = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("order-7"))
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    # the same request, keys in another order, is the same request
    again = await api.post(
        ORDER_PAID, key="shop-app", json={"options": {"channels": ["email"]}, "context": {"order_id": 7}},
        headers=key("order-7"),
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await Occurrence.count() == 1


async def test_a_paused_answer_is_replayed_as_it_was(api: Api) -> None:
    path = f"{SHOP}/e/refund/trigger/"
    first = await api.post(path, key="shop-app", json={}, headers=key("r"))
    again = await api.post(path, key="shop-app", json={}, headers=key("r"))
    assert first.json()["paused"] is True
    assert (again.status_code, again.json()) == (201, first.json())


@pytest.mark.parametrize(
    ("body", "query"),
    [({"context": {"order_id": 8}}, ""), (BODY, "?cid=other")],
    ids=["other-body", "other-cid"],
)
async def test_the_same_key_for_another_request_is_422(api: Api, body: dict[str, Any], query: str) -> None:
    assert (await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("k"))).status_code == 201
    response = await api.post(f"{ORDER_PAID}{query}", key="shop-app", json=body, headers=key("k"))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Idempotency-Key: ")
    assert await Occurrence.count() == 1


async def test_the_key_is_scoped_to_api_key_and_event(api: Api) -> None:
    ids = {
        (await api.post(ORDER_PAID, key="shop-app", json={}, headers=key("same"))).json()["occurrence"],
        (await api.post(ORDER_PAID, key="web-project", json={}, headers=key("same"))).json()["occurrence"],
        (await api.post(f"{SHOP}/e/refund/trigger/", key="shop-app", json={}, headers=key("same"))).json()["occurrence"],
    }
    assert len(ids) == 3
    assert await Occurrence.count() == 3


async def test_only_201s_are_remembered(api: Api) -> None:
    bad = await api.post(ORDER_PAID, key="shop-app", json={"options": {"channels": ["sms"]}}, headers=key("retry"))
    assert bad.status_code == 400
    assert await IdempotencyRecord.count() == 0
    good = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("retry"))
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers
    locked = await api.post(f"{SHOP}/e/frozen/trigger/", key="shop-app", json={}, headers=key("retry"))
    assert locked.status_code == 400
    assert await IdempotencyRecord.count() == 1


async def test_a_failure_while_storing_releases_the_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services.idempotency, "finish", broken)
    response = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("boom"))
    assert response.status_code == 500
    monkeypatch.undo()
    assert await IdempotencyRecord.count() == 0
    assert await Occurrence.count() == 0  # rolled back with the failed unit
    assert (await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("boom"))).status_code == 201


async def test_a_repeat_while_the_first_is_in_flight_is_409(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    accept = services._accept

    async def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await accept(*args, **kwargs)

    monkeypatch.setattr(services, "_accept", held)
    first = asyncio.create_task(api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("slow")))
    await asyncio.wait_for(entered.wait(), 5)
    second = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("slow"))
    assert second.status_code == 409
    assert second.json()["detail"].startswith("Idempotency-Key: ")
    release.set()
    assert (await first).status_code == 201
    replay = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("slow"))
    assert (replay.status_code, replay.json()) == (201, (await first).json())
    assert await Occurrence.count() == 1


async def test_concurrent_duplicates_create_one_occurrence(api: Api) -> None:
    responses = await asyncio.gather(
        *(api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("burst")) for _ in range(12))
    )
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = {response.json()["occurrence"] for response in responses if response.status_code == 201}
    assert len(created) == 1
    assert await Occurrence.count() == 1


async def test_an_expired_record_is_taken_over(api: Api) -> None:
    first = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("old"))
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    await IdempotencyRecord.update({IdempotencyRecord.expires_at: past}, force=True)
    again = await api.post(ORDER_PAID, key="shop-app", json={"context": {"new": True}}, headers=key("old"))
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json() != first.json()
    assert await IdempotencyRecord.count() == 1
    record = await IdempotencyRecord.select().first()
    assert record is not None and record["expires_at"] > datetime.now(timezone.utc) + timedelta(hours=23)


async def test_an_abandoned_claim_is_taken_over(api: Api) -> None:
    """A claim left `in_flight` by a process that died (it never committed an occurrence)."""
    from clarion.occurrences.idempotency import STALE_CLAIM_S

    await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("orphan"))
    await Occurrence.delete(force=True)
    long_ago = datetime.now(timezone.utc) - timedelta(seconds=STALE_CLAIM_S + 1)
    await IdempotencyRecord.update(
        {IdempotencyRecord.state: "in_flight", IdempotencyRecord.created: long_ago}, force=True
    )
    response = await api.post(ORDER_PAID, key="shop-app", json=BODY, headers=key("orphan"))
    assert response.status_code == 201
    assert await Occurrence.count() == 1


async def test_a_key_over_255_chars_is_400(api: Api) -> None:
    response = await api.post(ORDER_PAID, key="shop-app", json={}, headers=key("k" * 256))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Idempotency-Key: ")
    assert (await api.post(ORDER_PAID, key="shop-app", json={}, headers=key("k" * 255))).status_code == 201
