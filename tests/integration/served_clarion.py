"""`clarion serve` in a subprocess on a free port, for tests that need a real server (load, crashes)."""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import decode_catalog
from clarion.database import running_engine
from clarion.settings import DatabaseSettings
from clarion_test_support import clarion_command, free_port
from events_api_support import API_CONFIG, CATALOG, CHANNEL_KINDS

SERVER_CONFIG = API_CONFIG + '\n[logging]\nlevel = "warning"\n'


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def seed_database(database_url: str, catalog: dict[str, Any] = CATALOG) -> dict[str, str]:
    """Apply `catalog` to the database with an engine of this process (closed again at once)."""
    async with running_engine(DatabaseSettings(url=database_url)):
        return (await apply_catalog(decode_catalog(catalog), CHANNEL_KINDS)).api_keys


async def committed_ids(database_url: str, ids: set[str]) -> set[str]:
    """Which of `ids` are stored occurrences, read with a fresh engine of this process."""
    from clarion.occurrences.tables import Occurrence

    found: set[str] = set()
    wanted = sorted(ids)
    async with running_engine(DatabaseSettings(url=database_url)):
        for start in range(0, len(wanted), 500):
            rows = await Occurrence.select(Occurrence.id).where(Occurrence.id.is_in(wanted[start : start + 500]))
            found |= {row["id"] for row in rows}
    return found


@contextlib.asynccontextmanager
async def clarion_server(
    workdir: Path, database_url: str, *, name: str = "server", config_text: str = SERVER_CONFIG
) -> AsyncIterator[Server]:
    """Start `clarion serve`, wait until `/health/` answers, stop it (SIGTERM, then SIGKILL) at the end."""
    config = workdir / "clarion-serve.toml"
    config.write_text(config_text)
    port = free_port()
    log = workdir / f"{name}.log"
    env = {**os.environ, "CLARION_CONFIG": str(config), "CLARION_DATABASE_URL": database_url}
    with log.open("ab") as sink:
        process = subprocess.Popen(
            clarion_command("serve", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        await _wait_until_healthy(server)
        yield server
    finally:
        stop(server, signal.SIGTERM)


def stop(server: Server, how: signal.Signals = signal.SIGKILL) -> None:
    """Stop the server process (idempotent) and reap it."""
    if server.process.poll() is None:
        server.process.send_signal(how)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


async def _wait_until_healthy(server: Server, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"clarion serve exited with {server.process.returncode}:\n{server.output()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{server.url}/health/", timeout=1.0)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"clarion serve did not become healthy in {timeout_s}s:\n{server.output()}")
