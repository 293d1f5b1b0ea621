"""Trigger-to-send latency of a real `clarion serve` on the embedded default (SQLite, embedded dispatcher).

Starts an aiosmtpd server in this process and `clarion serve` in a subprocess on
a fresh SQLite file (synchronous=FULL) with a one-recipient catalog whose email
subject carries the occurrence id. Then sends N triggers one after the other
and measures, for each, the time from receiving the 201 to the SMTP server
accepting the message (end of DATA). The baseline, measured in the same run
against the same SMTP server, is one bare aiosmtplib send of the same message
(connect, send, quit): the cost of SMTP itself. Prints median / p90 / p99, the
ratio of the medians and a one-line JSON summary; exits 1 if the median misses
the target (100 ms).

    python bench/delivery_latency.py [--triggers 200] [--warmup 10]
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller

TARGET_MEDIAN_MS = 100.0

CONFIG = """
[server]
port = {http_port}
[dispatch]
embedded = true
[logging]
level = "warning"
[channels.email]
type = "email"
[channels.email.options]
host = "127.0.0.1"
port = {smtp_port}
sender = "Clarion <bench@localhost>"
"""

CATALOG = {
    "organizations": [{
        "slug": "bench", "name": "Bench",
        "users": [{"username": "alice", "email": "alice@example.com", "first_name": "Alice",
                   "addresses": [{"name": "email", "value": "alice@example.com"}]}],
        "projects": [{
            "slug": "web", "name": "Web",
            "distribution_lists": [{"name": "ops", "members": [{"user": "alice", "address": "email", "channel": "email"}]}],
            "applications": [{
                "slug": "shop", "name": "Shop",
                "events": [{"slug": "order-paid", "name": "Order paid", "notifications": [{
                    "name": "tell ops", "distribution_list": "ops",
                    "templates": {"email": {"subject": "{{ occurrence.id }}",
                                            "text": "Hi {{ recipient.first_name }}, order {{ order_id }} was paid."}},
                }]}],
            }],
        }],
        "api_keys": [{"name": "bench", "project": "web", "application": "shop", "grants": ["event:trigger"]}],
    }]
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Arrivals:
    """The SMTP handler: when each occurrence's mail was accepted (perf_counter, any thread)."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiters: dict[str, asyncio.Future[float]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        subject = str(message_from_bytes(envelope.original_content, policy=default_policy)["Subject"])
        with self.lock:
            self.accepted[subject] = at
            waiter = self.waiters.pop(subject, None)
        if waiter is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: waiter.done() or waiter.set_result(at))
        return "250 2.0.0 accepted"

    async def arrival(self, occurrence: str, timeout: float) -> float:
        with self.lock:
            if occurrence in self.accepted:
                return self.accepted[occurrence]
            assert self.loop is not None
            waiter = self.waiters[occurrence] = self.loop.create_future()
        return await asyncio.wait_for(waiter, timeout)


def clarion(workdir: Path, *args: str) -> str:
    env = {**os.environ, "CLARION_CONFIG": str(workdir / "clarion.toml")}
    return subprocess.run([sys.executable, "-m", "clarion", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, check=True, timeout=120).stdout


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def measure(base: str, token: str, arrivals: Arrivals, triggers: int, warmup: int) -> dict[str, list[float]]:
    arrivals.loop = asyncio.get_running_loop()
    url = f"{base}/api/o/bench/p/web/a/shop/e/order-paid/trigger/"
    headers = {"Authorization": f"Key {token}", "Content-Type": "application/json"}
    to_send: list[float] = []
    to_201: list[float] = []
    async with aiohttp.ClientSession() as session:
        for n in range(warmup + triggers):
            body = json.dumps({"context": {"order_id": n}})
            sent = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                payload = await response.json()
                answered = time.perf_counter()
            if response.status != 201:
                raise SystemExit(f"trigger answered {response.status}: {payload}")
            accepted = await arrivals.arrival(payload["occurrence"], timeout=30)
            if n >= warmup:
                to_201.append(answered - sent)
                to_send.append(accepted - answered)
    return {"to_send": to_send, "to_201": to_201}


async def measure_baseline(smtp_port: int, arrivals: Arrivals, sends: int) -> list[float]:
    """Seconds from starting a bare aiosmtplib send to the server accepting it."""
    import aiosmtplib

    arrivals.loop = asyncio.get_running_loop()
    latencies = []
    for n in range(sends):
        subject = f"baseline-{n}"
        message = f"From: bench@localhost\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\r\nHi\r\n"
        started = time.perf_counter()
        await aiosmtplib.send(message, sender="bench@localhost", recipients=["alice@example.com"],
                              hostname="127.0.0.1", port=smtp_port)
        latencies.append(await arrivals.arrival(subject, timeout=30) - started)
    return latencies


async def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"clarion serve exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("clarion serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    arrivals = Arrivals()
    smtp_port, http_port = free_port(), free_port()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            (workdir / "clarion.toml").write_text(CONFIG.format(http_port=http_port, smtp_port=smtp_port))
            (workdir / "catalog.json").write_text(json.dumps(CATALOG))
            baseline = asyncio.run(measure_baseline(smtp_port, arrivals, args.triggers))
            clarion(workdir, "migrate")
            token = json.loads(clarion(workdir, "apply", "catalog.json"))["api_keys"]["bench/bench"]
            env = {**os.environ, "CLARION_CONFIG": str(workdir / "clarion.toml")}
            server = subprocess.Popen([sys.executable, "-m", "clarion", "serve"], cwd=workdir, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                asyncio.run(wait_for_port(http_port, server))
                figures = asyncio.run(measure(f"http://127.0.0.1:{http_port}", token, arrivals,
                                              args.triggers, args.warmup))
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        smtp.stop()

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "median_ms": round(statistics.median(values) * 1000, 2),
            "p90_ms": round(percentile(values, 0.90) * 1000, 2),
            "p99_ms": round(percentile(values, 0.99) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2),
        }

    to_send, to_201 = summary(figures["to_send"]), summary(figures["to_201"])
    bare = summary(baseline)
    ratio = round(to_send["median_ms"] / bare["median_ms"], 2)
    met = to_send["median_ms"] < TARGET_MEDIAN_MS
    print(f"{args.triggers} sequential triggers (after {args.warmup} warm-up), SQLite synchronous=FULL, embedded dispatcher")
    print(f"201 → SMTP accepted : median {to_send['median_ms']} ms, p90 {to_send['p90_ms']} ms, "
          f"p99 {to_send['p99_ms']} ms, max {to_send['max_ms']} ms")
    print(f"request → 201       : median {to_201['median_ms']} ms, p90 {to_201['p90_ms']} ms, p99 {to_201['p99_ms']} ms")
    print(f"baseline: bare SMTP send: median {bare['median_ms']} ms, p90 {bare['p90_ms']} ms; "
          f"trigger→SMTP / bare send = {ratio}")
    print(f"target: median < {TARGET_MEDIAN_MS:g} ms: {'met' if met else 'MISSED'}")
    print(json.dumps({"bench": "delivery_latency", "triggers": args.triggers, "trigger_to_smtp": to_send,
                      "request_to_201": to_201, "baseline_bare_smtp_send": bare,
                      "ratio_to_baseline": ratio, "target_median_ms": TARGET_MEDIAN_MS, "target_met": met}))
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
