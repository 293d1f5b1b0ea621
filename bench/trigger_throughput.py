"""Trigger throughput of a real `clarion serve` on the embedded default (SQLite, synchronous=FULL).

Starts `clarion serve` in a subprocess on a fresh SQLite file with the demo
catalog, then N concurrent clients (default 48) send requests for T seconds:
first `GET /health/` (the baseline: HTTP and framework cost, no database),
then `POST …/trigger/`. Prints requests/s, errors and p50/p99 latency for each,
the trigger/baseline ratio, checks that every 201 refers to a committed row,
and ends with a one-line JSON summary. The embedded dispatcher is off so only
the write path is measured.

    python bench/trigger_throughput.py [--clients 48] [--seconds 5]
"""

import argparse
import asyncio
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

CONFIG = """
[server]
port = {port}
[dispatch]
embedded = false
[logging]
level = "warning"
[channels.email]
type = "email"
[channels.email.options]
host = "127.0.0.1"
port = 1
sender = "bench@localhost"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clarion(workdir: Path, *args: str, **popen: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLARION_CONFIG": str(workdir / "clarion.toml")}
    return subprocess.run([sys.executable, "-m", "clarion", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, check=True, timeout=120)


async def hammer(method: str, url: str, headers: dict[str, str], body: bytes | None,
                 clients: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    ids: list[str] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with session.request(method, url, headers=headers, data=body) as response:
                    payload = await response.read()
                latencies.append(time.perf_counter() - start)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status == 201:
                    ids.append(json.loads(payload)["occurrence"])

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "statuses": statuses,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "ids": ids,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        port = free_port()
        (workdir / "clarion.toml").write_text(CONFIG.format(port=port))
        clarion(workdir, "migrate")
        token = re.search(r"Demo key \(shown once\): (\S+)", clarion(workdir, "demo").stdout).group(1)  # type: ignore[union-attr]
        env = {**os.environ, "CLARION_CONFIG": str(workdir / "clarion.toml")}
        server = subprocess.Popen([sys.executable, "-m", "clarion", "serve"], cwd=workdir, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Key {token}", "Content-Type": "application/json"}
            baseline = asyncio.run(hammer("GET", f"{base}/health/", {}, None, args.clients, args.seconds))
            trigger_url = f"{base}/api/o/demo/p/web/a/shop/e/order-paid/trigger/"
            body = json.dumps({"context": {"order_id": "A-1"}}).encode()
            trigger = asyncio.run(hammer("POST", trigger_url, headers, body, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
        connection = sqlite3.connect(workdir / "var" / "clarion.db")
        stored = {row[0] for row in connection.execute("SELECT id FROM occurrence")}
        connection.close()
    answered = trigger.pop("ids")
    baseline.pop("ids")
    missing = [i for i in answered if i not in stored]  # type: ignore[union-attr]
    ratio = round(trigger["requests_per_s"] / baseline["requests_per_s"], 3)  # type: ignore[operator]
    print(f"baseline GET /health/   : {baseline}")
    print(f"POST …/trigger/         : {trigger}")
    print(f"trigger / baseline      : {ratio}")
    print(f"201s answered: {len(answered)}, missing from the database: {len(missing)}")  # type: ignore[arg-type]
    print(json.dumps({"bench": "trigger_throughput", "clients": args.clients, "baseline": baseline,
                      "trigger": trigger, "ratio_to_baseline": ratio, "answered_201": len(answered),  # type: ignore[arg-type]
                      "missing": len(missing)}))
    if missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
