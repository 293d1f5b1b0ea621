"""The write path under load and through a crash, against a real `clarion serve` (SPEC §4, §10).

The server runs without the embedded dispatcher, so only the trigger path is
measured. Every id answered 201 must be a committed occurrence: while the server
runs, and after it was SIGKILLed mid-stream and restarted.
"""

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from events_api_support import ORDER_PAID
from served_clarion import clarion_server, committed_ids, seed_database, stop

from clarion_test_support import ENGINE

pytestmark = pytest.mark.slow

CLIENTS = 48
TRIGGERS_PER_CLIENT = 25


def auth(tokens: dict[str, str], name: str = "shop-app") -> dict[str, str]:
    return {"Authorization": f"Key {tokens[f'acme/{name}']}"}


async def test_48_concurrent_clients_get_only_201s_for_committed_occurrences(
    tmp_path: Path, database_url: str
) -> None:
    tokens = await seed_database(database_url)
    async with clarion_server(tmp_path, database_url) as server:

        async def client(number: int) -> list[tuple[int, str]]:
            answers = []
            async with httpx.AsyncClient(base_url=server.url, headers=auth(tokens), timeout=30) as http:
                for index in range(TRIGGERS_PER_CLIENT):
                    response = await http.post(ORDER_PAID, json={"context": {"client": number, "index": index}})
                    answers.append((response.status_code, response.text))
            return answers

        started = time.perf_counter()
        answers = [answer for batch in await asyncio.gather(*(client(n) for n in range(CLIENTS))) for answer in batch]
        elapsed = time.perf_counter() - started
        statuses = Counter(status for status, _ in answers)
        assert statuses == {201: CLIENTS * TRIGGERS_PER_CLIENT}, [text for status, text in answers if status != 201][:5]
        ids = {httpx.Response(201, text=text).json()["occurrence"] for _, text in answers}
        assert len(ids) == CLIENTS * TRIGGERS_PER_CLIENT
        # read while the server still runs: nothing is left for a shutdown to flush
        assert await committed_ids(database_url, ids) == ids
        print(f"\n[{ENGINE}] {len(ids)} triggers from {CLIENTS} clients in {elapsed:.2f}s = {len(ids) / elapsed:.0f}/s")
    assert "database is locked" not in server.output()


async def test_concurrent_duplicates_on_a_real_server_create_one_occurrence(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url)
    async with clarion_server(tmp_path, database_url) as server:
        headers = {**auth(tokens), "Idempotency-Key": "burst-1"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            responses = await asyncio.gather(*(http.post(ORDER_PAID, json={"context": {"n": 1}}) for _ in range(24)))
        statuses = Counter(response.status_code for response in responses)
        assert set(statuses) <= {201, 409}, statuses
        created = {response.json()["occurrence"] for response in responses if response.status_code == 201}
        assert len(created) == 1
        assert await committed_ids(database_url, created) == created


async def test_every_201_survives_a_sigkill_mid_stream(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url)
    acknowledged: set[str] = set()
    refused: list[str] = []

    async with clarion_server(tmp_path, database_url, name="before-crash") as server:

        async def client() -> None:
            async with httpx.AsyncClient(base_url=server.url, headers=auth(tokens), timeout=10) as http:
                while True:
                    try:
                        response = await http.post(ORDER_PAID, json={"context": {"at": time.time()}})
                    except httpx.TransportError:
                        return  # the server is gone
                    if response.status_code == 201:
                        acknowledged.add(response.json()["occurrence"])
                    else:
                        refused.append(response.text)

        clients = [asyncio.create_task(client()) for _ in range(16)]
        deadline = time.monotonic() + 30
        while len(acknowledged) < 400 and time.monotonic() < deadline and not refused:
            await asyncio.sleep(0.01)
        stop(server)  # SIGKILL while the clients keep writing
        await asyncio.gather(*clients)
    assert not refused, refused[:3]
    assert len(acknowledged) >= 400

    async with clarion_server(tmp_path, database_url, name="after-crash") as server:
        async with httpx.AsyncClient(base_url=server.url, headers=auth(tokens), timeout=10) as http:
            response = await http.post(ORDER_PAID, json={"context": {"after": "restart"}})
        assert response.status_code == 201
        acknowledged.add(response.json()["occurrence"])
        missing = acknowledged - await committed_ids(database_url, acknowledged)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged occurrences were lost"
