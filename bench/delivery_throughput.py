"""Email and webhook delivery throughput against client ceilings to the same servers (goal 2 of issue 9).

Email: an aiosmtpd server in its own process (bench/smtp_sink.py). The ceiling
is aiosmtplib on 8 reused connections sending M emails to it
(bench/ceiling_clients.py); then `clarion serve` (SQLite, embedded dispatcher as
shipped) gets N triggers of `mail-burst` (10 email recipients each) from wrk,
and the figure is N × 10 messages over the time from the first trigger sent to
the SMTP server having the last one. The ceiling runs before and after Clarion;
the better run counts.

Webhook: the same with a uvicorn + uvloop receiver in its own process
(bench/webhook_sink.py), an aiohttp client ceiling (32 requests in flight, the
channel's `max_concurrency`) and `hook-burst` (10 webhook recipients each). All
10 are on that one host, so the channel's per-host cap (`max_per_host`, 4 by
default) applies; a second Clarion run, without a goal, lifts it to 32.

    python bench/delivery_throughput.py [--email-triggers 200] [--webhook-triggers 500]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import harness
from catalog import RECIPIENTS
from report import Row, ratio_row, run_alone

GOAL = 0.7
# Every bench recipient is on one host (the receiver). The webhook channel sends at most
# `max_per_host` (4 by default) requests to one host at once and defers the rest; the extra
# row lifts that to the channel's `max_concurrency`, as if the recipients were on 8+ hosts.
UNCAPPED = {"max_per_host": 32}


def client_ceiling(kind: str, port: int, messages: int) -> dict[str, float]:
    result = subprocess.run([sys.executable, str(harness.BENCH / "ceiling_clients.py"), kind, "--port", str(port),
                             "--messages", str(messages)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"{kind} ceiling failed: {result.stderr.strip()}")
    return json.loads(result.stdout.splitlines()[-1])


def ceiling_run(kind: str, sink: harness.Sink, messages: int) -> dict[str, float]:
    before = sink.count()
    top = client_ceiling("smtp" if kind == "email" else "webhook", sink.port, messages)
    if not sink.wait_for(before + messages, 10):
        raise SystemExit(f"{kind} ceiling: the sink got {sink.count() - before} of {messages}")
    return top


def clarion_burst(processes: harness.Processes, directory: Path, smtp: harness.Sink, hooks: harness.Sink,
                  event: str, triggers: int, sink: harness.Sink, timeout: float = 240.0,
                  webhook_options: dict[str, int] | None = None) -> dict[str, float]:
    """Fire `triggers` triggers of `event` with wrk; time until `sink` has every message."""
    directory.mkdir()
    clarion = harness.Clarion.create(directory, smtp_port=smtp.port, webhook_port=hooks.port,
                                     webhook_options=webhook_options)
    server = clarion.serve(processes)
    before = sink.count()
    started_us = time.time_ns() // 1000
    fired = harness.wrk(clarion.trigger_url(event), seconds=60, quota=triggers,
                        env={"BENCH_AUTH": f"Key {clarion.token}"})
    time.sleep(0.2)
    occurrences = int(clarion.query(
        "SELECT count(*) FROM occurrence WHERE event = ?", clarion.event_id(event))[0][0])
    expected = occurrences * RECIPIENTS
    complete = sink.wait_for(before + expected, timeout)
    arrivals = [int(line[0]) for line in sink.lines()[before:]]
    statuses = dict(clarion.query("SELECT status, count(*) FROM delivery GROUP BY status"))
    processes.stop(server, "clarion serve", timeout=30)
    last = max(arrivals) if arrivals else started_us
    seconds = (last - started_us) / 1e6
    return {"triggers": occurrences, "answered_201": fired.created, "messages": expected,
            "received": len(arrivals), "complete": complete, "seconds": round(seconds, 3),
            "per_s": len(arrivals) / seconds if seconds > 0 else 0.0, "trigger_seconds": round(fired.seconds, 3),
            "delivery_statuses": statuses}


def measure(email_triggers: int, webhook_triggers: int) -> list[Row]:
    rows = []
    with harness.Processes() as processes:
        directory = harness.phase_dir("delivery")
        smtp = harness.start_smtp_sink(processes, directory)
        hooks = harness.start_webhook_sink(processes, directory)
        for kind, sink, event, triggers, ceiling_messages in (
            ("email", smtp, "mail-burst", email_triggers, email_triggers * RECIPIENTS),
            ("webhook", hooks, "hook-burst", webhook_triggers, max(webhook_triggers * RECIPIENTS, 6000)),
        ):
            first = ceiling_run(kind, sink, ceiling_messages)
            burst = clarion_burst(processes, directory / kind, smtp, hooks, event, triggers, sink)
            uncapped = None
            if kind == "webhook":
                uncapped = clarion_burst(processes, directory / "webhook-uncapped", smtp, hooks, event, triggers,
                                         sink, webhook_options=UNCAPPED)
            second = ceiling_run(kind, sink, ceiling_messages)
            top = max(first, second, key=lambda run: run["per_s"])
            top["runs_per_s"] = [first["per_s"], second["per_s"]]
            ceiling_label = ("aiosmtplib, 8 reused connections" if kind == "email"
                             else "aiohttp, 32 in flight")
            row = ratio_row(f"{kind} delivery, {burst['triggers']} triggers × {RECIPIENTS} (ceiling: {ceiling_label})",
                            burst["per_s"], top["per_s"], "msg/s", GOAL, ceiling_run=top, **burst)
            if not burst["complete"]:
                row.clarion += f" (only {burst['received']:,} of {burst['messages']:,} arrived)"
                row.met = False
            rows.append(row)
            if uncapped is not None:
                rows.append(Row(f"webhook delivery, max_per_host = 32 instead of 4 (no goal: all {RECIPIENTS} "
                                "recipients are on one host here)", f"{uncapped['per_s']:,.0f} msg/s",
                                f"{top['per_s']:,.0f} msg/s", f"{uncapped['per_s'] / top['per_s']:.2f}",
                                figures=uncapped))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--email-triggers", type=int, default=200)
    parser.add_argument("--webhook-triggers", type=int, default=500)
    args = parser.parse_args()
    return run_alone(lambda: measure(args.email_triggers, args.webhook_triggers))


if __name__ == "__main__":
    sys.exit(main())
