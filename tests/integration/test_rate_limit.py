"""Rate limiting per API key (`[rate_limit]`, a key's own `rate_limit`): memory and Redis stores.

Limits here are one request a minute with a small burst, so refill never happens
during a test however loaded the machine is: the counts are exact.
"""

import copy
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from clarion.occurrences.tables import Occurrence
from clarion.ratelimit import Limit, MemoryStore, gcra
from clarion.settings import Settings
from events_api_support import API_CONFIG, CATALOG, ORDER_PAID, SHOP, Api, api  # noqa: F401
from served_clarion import SERVER_CONFIG, clarion_server, committed_ids, seed_database

TRIGGER = {"json": {"context": {"order_id": "A-1"}}}
REDIS_URL = "redis://127.0.0.1:6379/0"
DOWN_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: a Redis outage


def _limited(per_minute: int = 1, burst: int = 3, store: str = "memory", **extra: object) -> str:
    lines = [f"per_minute = {per_minute}", f"burst = {burst}", f'store = "{store}"',
             f'redis_prefix = "clarion-test:{uuid.uuid4().hex}:"']
    lines += [f"{key} = {str(value).lower()}" for key, value in extra.items()]
    return "\n[rate_limit]\n" + "\n".join(lines) + "\n"


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("rate_limit_config")
    return make_settings(API_CONFIG + (marker.args[0] if marker else _limited()))


def test_gcra_allows_a_burst_then_one_request_per_interval() -> None:
    clock = [100.0]
    limit = Limit(per_minute=60, burst=2)  # one a second
    tat = None
    outcomes = []
    for now in (0.0, 0.0, 0.0, 0.5, 1.0, 1.0):
        allowed, retry_ms, _, tat = gcra(tat, clock[0] * 1000 + now * 1000, limit)
        outcomes.append((allowed, round(retry_ms)))
    assert outcomes == [(True, 0), (True, 0), (False, 1000), (False, 500), (True, 0), (False, 1000)]


async def test_memory_store_drops_full_buckets_when_it_grows() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0], max_entries=2)
    limit = Limit(per_minute=60, burst=1)
    await store.hit("a", limit)
    await store.hit("b", limit)
    now[0] = 5.0  # both buckets are full again
    assert await store.hit("c", limit) == (True, 0.0, 1000.0)
    assert await store.hit("a", limit) == (True, 0.0, 1000.0)  # a fresh bucket, not a refusal


async def test_over_the_limit_is_429_with_retry_after_and_nothing_stored(api: Api) -> None:
    answers = [await api.post(ORDER_PAID, "shop-app", **TRIGGER) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert [answer.headers["ratelimit-remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert all(answer.headers["ratelimit-limit"] == "3" for answer in answers)
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert int(refused.headers["ratelimit-reset"]) >= int(refused.headers["retry-after"])
    assert refused.headers["ratelimit-policy"] == "3;w=180"
    assert "rate limit exceeded for API key 'shop-app'" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/problem+json"  # like every other error
    assert {key: refused.json()[key] for key in ("type", "title", "status")} == {
        "type": "about:blank", "title": "Too Many Requests", "status": 429}
    assert await Occurrence.count() == 3
    # Another key has its own bucket; requests that are not authenticated are not counted.
    assert (await api.post(ORDER_PAID, "org-all", **TRIGGER)).status_code == 201
    assert (await api.client.get("/health/")).status_code == 200
    assert "ratelimit-limit" not in (await api.client.get("/health/")).headers


async def test_every_api_request_counts_not_only_triggers(api: Api) -> None:
    statuses = [(await api.get(f"{SHOP}/e/", "shop-app")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert (await api.post(ORDER_PAID, "shop-app", **TRIGGER)).status_code == 429
    assert await Occurrence.count() == 0


@pytest.mark.rate_limit_config("")  # no default limit: only keys with their own are limited
async def test_a_key_minted_with_its_own_limit_is_limited_and_shows_it(api: Api) -> None:
    body = {"name": "limited", "grants": ["event:trigger"], "rate_limit": {"per_minute": 1, "burst": 2}}
    created = await api.post("/api/o/acme/keys/", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["rate_limit"] == {"per_minute": 1, "burst": 2}
    listed = (await api.get("/api/o/acme/keys/")).json()
    assert [key["rate_limit"] for key in listed if key["name"] == "limited"] == [{"per_minute": 1, "burst": 2}]
    headers = {"Authorization": f"Key {created.json()['token']}"}
    statuses = [(await api.client.post(ORDER_PAID, headers=headers, **TRIGGER)).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    # Keys without their own limit are not limited at all.
    assert {(await api.post(ORDER_PAID, "shop-app", **TRIGGER)).status_code for _ in range(5)} == {201}


@pytest.mark.parametrize(
    ("rate_limit", "field"),
    [({"per_minute": -1, "burst": 1}, "rate_limit.per_minute"), ({"per_minute": 5, "burst": 0}, "rate_limit.burst"),
     ({"per_minute": 5}, "burst"), ({"per_minute": 5, "burst": 1, "x": 1}, "rate_limit.x")],
)
async def test_a_bad_key_limit_is_400_naming_the_field(api: Api, rate_limit: dict, field: str) -> None:
    answer = await api.post("/api/o/acme/keys/", json={"name": "bad", "grants": ["event:list"], "rate_limit": rate_limit})
    assert answer.status_code == 400
    assert field in answer.json()["detail"]


@pytest.fixture
async def catalog_overrides(api: Api) -> Api:
    """The catalog applied again with a key exempt (per_minute 0) and one with a larger burst."""
    from events_api_support import seed

    catalog = copy.deepcopy(CATALOG)
    for key in catalog["organizations"][0]["api_keys"]:
        if key["name"] == "shop-app":
            key["rate_limit"] = {"per_minute": 0, "burst": 1}
        if key["name"] == "web-project":
            key["rate_limit"] = {"per_minute": 1, "burst": 5}
    await seed(catalog)
    return api


async def test_catalog_overrides_the_default_per_key(catalog_overrides: Api) -> None:
    api = catalog_overrides
    # (Re-applied before the keys' first request: the authentication cache has not loaded them yet.)
    assert {(await api.post(ORDER_PAID, "shop-app", **TRIGGER)).status_code for _ in range(6)} == {201}
    statuses = [(await api.post(ORDER_PAID, "web-project", **TRIGGER)).status_code for _ in range(6)]
    assert statuses == [201] * 5 + [429]


@pytest.mark.rate_limit_config(_limited(store=DOWN_REDIS_URL))
async def test_a_redis_outage_lets_requests_through_and_is_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clarion.ratelimit"):
        statuses = [(await api.post(ORDER_PAID, "shop-app", **TRIGGER)).status_code for _ in range(5)]
    assert statuses == [201] * 5
    assert await Occurrence.count() == 5
    outage = [record for record in caplog.records if "rate limit store unavailable" in record.getMessage()]
    assert len(outage) == 1  # once, not once per request


@pytest.mark.rate_limit_config(_limited(store=DOWN_REDIS_URL, fail_closed=True))
async def test_a_redis_outage_refuses_requests_when_configured_to_fail_closed(api: Api) -> None:
    answer = await api.post(ORDER_PAID, "shop-app", **TRIGGER)
    assert answer.status_code == 503
    assert "rate limit store unavailable" in answer.json()["detail"]
    assert answer.headers["retry-after"] == "10"
    assert await Occurrence.count() == 0


async def _alternate_triggers(database_url: str, workdir: Path, config: str, rounds: int) -> list[httpx.Response]:
    """Two `clarion serve` processes on one database; `shop-app` triggers on each in turn, `rounds` times."""
    tokens = await seed_database(database_url)
    headers = {"Authorization": f"Key {tokens['acme/shop-app']}"}
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    async with (
        clarion_server(workdir / "a", database_url, name="a", config_text=config) as first,
        clarion_server(workdir / "b", database_url, name="b", config_text=config) as second,
        httpx.AsyncClient(timeout=30) as client,
    ):
        return [
            await client.post(f"{server.url}{ORDER_PAID}", headers=headers, **TRIGGER)
            for server in (first, second) * rounds
        ]


@pytest.mark.slow
async def test_the_limit_holds_across_two_serve_processes_sharing_redis(database_url: str, tmp_path: Path) -> None:
    config = SERVER_CONFIG + _limited(per_minute=1, burst=4, store=REDIS_URL)
    answers = await _alternate_triggers(database_url, tmp_path, config, rounds=4)
    assert [answer.status_code for answer in answers] == [201] * 4 + [429] * 4
    stored = await committed_ids(database_url, {answer.json().get("occurrence", "") for answer in answers})
    assert len(stored) == 4


@pytest.mark.slow
async def test_memory_stores_of_two_processes_do_not_share_the_limit(database_url: str, tmp_path: Path) -> None:
    """The reason a shared store exists: each process alone counts only what it saw."""
    answers = await _alternate_triggers(database_url, tmp_path, SERVER_CONFIG + _limited(burst=2), rounds=3)
    assert [answer.status_code for answer in answers] == [201] * 4 + [429] * 2

@pytest.mark.rate_limit_config("")
async def test_a_limited_key_mints_keys_limited_no_looser(api: Api) -> None:
    parent = await api.post("/api/o/acme/keys/", json={
        "name": "parent", "grants": ["admin", "event:trigger"], "rate_limit": {"per_minute": 10, "burst": 20}})
    headers = {"Authorization": f"Key {parent.json()['token']}"}

    async def mint(name: str, **extra: object) -> httpx.Response:
        body = {"name": name, "grants": ["event:trigger"], **extra}
        return await api.client.post("/api/o/acme/keys/", headers=headers, json=body)

    inherited = await mint("inherits")
    assert inherited.json()["rate_limit"] == {"per_minute": 10, "burst": 20}
    assert (await mint("tighter", rate_limit={"per_minute": 5, "burst": 5})).status_code == 201
    for looser in ({"per_minute": 11, "burst": 5}, {"per_minute": 10, "burst": 21}, {"per_minute": 0, "burst": 1}):
        answer = await mint("looser", rate_limit=looser)
        assert answer.status_code == 403
        assert answer.json()["detail"].startswith("rate_limit: looser than the minting key's own")
