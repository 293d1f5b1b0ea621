"""A running `clarion serve` follows its configuration file, as an operator would use it."""

import asyncio
import signal
from pathlib import Path

import httpx
from served_clarion import clarion_server, seed_database


async def channel_states(client: httpx.AsyncClient) -> dict[str, bool]:
    response = await client.get("/api/o/acme/c/")
    assert response.status_code == 200, response.text
    return {channel["name"]: channel["enabled"] for channel in response.json()}


async def seconds_until(client: httpx.AsyncClient, expected: dict[str, bool], timeout: float = 2.0) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while (states := await channel_states(client)) != expected:
        if loop.time() - start > timeout:
            raise AssertionError(f"channels still {states}, expected {expected}")
        await asyncio.sleep(0.05)
    return loop.time() - start


async def test_edit_sighup_and_a_broken_file(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url)
    async with clarion_server(tmp_path, database_url) as server:
        config = tmp_path / "clarion-serve.toml"
        original = config.read_text()
        headers = {"Authorization": f"Key {tokens['acme/org-all']}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as client:
            assert await channel_states(client) == {"email": True, "pager": False, "webhook": True}

            config.write_text(original.replace('type = "webhook"\nenabled = false', 'type = "webhook"\nenabled = true'))
            await seconds_until(client, {"email": True, "pager": True, "webhook": True})

            config.write_text(original.replace('type = "webhook"\nenabled = false', 'type = "webhook"\nenabled = "maybe"'))
            await asyncio.sleep(1.5)
            assert await channel_states(client) == {"email": True, "pager": True, "webhook": True}
            assert "rejected" in server.output()
            assert "channels.pager.enabled: expected bool, got str" in server.output()

            config.write_text(original.split("[channels.pager]")[0])
            await seconds_until(client, {"email": True, "webhook": True})

            server.process.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert server.process.poll() is None, "SIGHUP must reload, not stop the server"
            assert await channel_states(client) == {"email": True, "webhook": True}
