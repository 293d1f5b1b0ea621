"""Trigger-to-receipt latency under a sustained load of half the trigger maximum (goal 3 of issue 9).

`clarion serve` (SQLite, synchronous=FULL, embedded dispatcher) gets triggers
of `order-paid` (1 email + 1 webhook recipient) at a fixed rate — half the
trigger rate measured by trigger_throughput.py in the same `make bench` run —
from wrk with bench/wrk/paced.lua: an open-loop schedule (wrk2 is not in
Debian), each body stamped with its send time (`sent_us`). The bench templates
carry that stamp to the SMTP sink (subject) and the webhook sink (payload
`data`), each in its own process, which note their arrival time; the latency of
a message is arrival − send, so it includes the request, the commit, the wake-up,
rendering and the send. The first seconds are a warm-up and not counted.

    python bench/delivery_latency.py --rate 200 [--seconds 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import harness
from report import Row, run_alone

GOAL_P99_S = 1.0
DRAIN_S = 30.0
EVENT = "order-paid"


def show(seconds: float) -> str:
    return "∞" if math.isinf(seconds) else f"{seconds * 1000:,.0f} ms"


def measure(rate: float, seconds: float = 20.0, warmup: float = 3.0, maximum: float | None = None) -> list[Row]:
    """`maximum`: the trigger rate `rate` is half of, for the label."""
    with harness.Processes() as processes:
        bench = harness.stage(processes, "latency")
        smtp, hooks, clarion = bench.smtp, bench.hooks, bench.clarion
        server = clarion.serve(processes)
        started_us = time.time_ns() // 1000
        load = harness.wrk(clarion.trigger_url(EVENT), seconds=seconds, script="paced.lua", env={
            "BENCH_AUTH": f"Key {clarion.token}", "BENCH_RATE": f"{rate:g}", "BENCH_THREADS": "2"})
        time.sleep(0.2)
        occurrences = int(clarion.query("SELECT count(*) FROM occurrence")[0][0])
        smtp.wait_for(occurrences, DRAIN_S)
        hooks.wait_for(occurrences, DRAIN_S / 2)
        processes.stop(server, "clarion serve", timeout=30)
    counted_from = started_us + warmup * 1e6
    latencies: dict[str, list[float]] = {"email": [], "webhook": []}
    for line in smtp.lines():
        sent = line[1].split(" ")[-1] if len(line) > 1 else ""
        if sent.isdigit() and int(sent) >= counted_from:
            latencies["email"].append((int(line[0]) - int(sent)) / 1e6)
    for line in hooks.lines():
        if len(line) > 2 and line[2].isdigit() and int(line[2]) >= counted_from:
            latencies["webhook"].append((int(line[0]) - int(line[2])) / 1e6)
    received = smtp.count() + hooks.count()
    lost = 2 * occurrences - received
    # A message still missing when the probe ends is slower than any that arrived: count it as infinite.
    every = latencies["email"] + latencies["webhook"] + [math.inf] * lost
    p50, p99 = harness.percentile(every, 0.50), harness.percentile(every, 0.99)
    detail = "; ".join(
        f"{kind} p50 {show(harness.percentile(values, 0.5))} p99 {show(harness.percentile(values, 0.99))}"
        for kind, values in latencies.items() if values)
    row = Row(
        f"trigger→receipt at {load.rate:,.0f} triggers/s"
        + (f" (half of the {maximum:,.0f}/s maximum)" if maximum else "")
        + f", {seconds:g} s, first {warmup:g} s not counted: p50 / p99",
        f"{show(p50)} / {show(p99)}"
        + (f" ({lost:,} of {2 * occurrences:,} messages not there {DRAIN_S:g} s after the load, counted as ∞)"
           if lost else ""),
        goal=f"p99 < {GOAL_P99_S:g} s", met=bool(every) and p99 < GOAL_P99_S and lost == 0,
        figures={"target_rate": rate, "achieved_rate": load.rate, "occurrences": occurrences,
                 "messages_counted": len(every), "received": received, "lost": lost,
                 "p50_s": p50, "p99_s": p99, "max_s": max(every) if every else None,
                 "mean_s": statistics.fmean(every) if every and not lost else None, "by_channel": detail,
                 "request_p50_ms": load.p50_ms, "request_p99_ms": load.p99_ms, "non_201": load.other_status})
    return [row, Row("trigger→receipt, by channel; request→201 p50 / p99", detail,
                     f"request→201 {load.p50_ms:.0f} / {load.p99_ms:.0f} ms")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True, help="triggers per second (half the measured maximum)")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    return run_alone(lambda: measure(args.rate, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
