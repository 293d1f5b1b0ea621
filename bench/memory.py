"""RSS of `clarion serve` and `clarion worker` while a 100,000-occurrence backlog drains (goal 4 of issue 9).

100,000 pending occurrences of `backlog` (1 webhook recipient each, to the
bench webhook sink in its own process) are written straight into a migrated
SQLite database (bench/backlog.py). `clarion serve` (embedded dispatcher)
drains it for `--seconds`, sampled every second: its RSS, the RSS of its
render workers, and the webhooks received so far. Then `clarion worker` drains
the rest of the same backlog the same way. Draining 100,000 takes far longer
than a bounded benchmark may, so each process is watched for a fixed window;
the table says how much of the backlog that window drained.

Goal: flat ± 20 %: every sample from the 5th second on is within 20 % of the
median of seconds 5–10 (the dispatcher's caches and pools are filled by then).

    python bench/memory.py [--backlog 100000] [--seconds 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import harness
from backlog import insert_backlog
from report import Row, run_alone

TOLERANCE = 0.20
SETTLED_S = 5


def watch(process_pid: int, hooks: harness.Sink, seconds: float) -> list[dict[str, float]]:
    samples = []
    started = time.monotonic()
    for second in range(1, int(seconds) + 1):
        time.sleep(max(0.0, started + second - time.monotonic()))
        rss = harness.rss_mb(process_pid)
        if rss is None:
            break
        helpers = sum(harness.rss_mb(child) or 0.0 for child in harness.children(process_pid))
        samples.append({"t": second, "rss_mb": round(rss, 1), "render_workers_mb": round(helpers, 1),
                        "received": hooks.count()})
    return samples


def curve(samples: list[dict[str, float]], key: str) -> str:
    return " ".join(f"{sample[key]:.0f}" for sample in samples)


def verdict(name: str, samples: list[dict[str, float]], backlog: int, drained: int) -> Row:
    settled = [s["rss_mb"] for s in samples if s["t"] >= SETTLED_S]
    reference = statistics.median(s["rss_mb"] for s in samples if SETTLED_S <= s["t"] < 2 * SETTLED_S)
    low, high = min(settled), max(settled)
    drift = max(abs(high - reference), abs(reference - low)) / reference
    seconds = samples[-1]["t"]
    return Row(
        f"memory: `clarion {name}` RSS while a {backlog:,}-occurrence backlog drains ({seconds} s window, "
        f"{drained:,} drained)",
        f"{reference:.0f} MB at 5–10 s; {low:.0f}–{high:.0f} MB after; ±{drift * 100:.0f} %",
        goal=f"± {TOLERANCE * 100:.0f} %", met=drift <= TOLERANCE,
        figures={"curve_mb": [s["rss_mb"] for s in samples],
                 "render_workers_mb": [s["render_workers_mb"] for s in samples],
                 "received": [s["received"] for s in samples], "drift": round(drift, 3)})


def measure(backlog: int, seconds: float) -> list[Row]:
    rows = []
    with harness.Processes() as processes:
        bench = harness.stage(processes, "memory")
        directory, hooks, clarion = bench.directory, bench.hooks, bench.clarion
        took = insert_backlog(clarion, "backlog", backlog)
        print(f"  backlog of {backlog:,} occurrences inserted in {took:.1f} s", flush=True)
        for name in ("serve", "worker"):
            before = hooks.count()
            process = clarion.serve(processes) if name == "serve" else clarion.worker(processes)
            samples = watch(process.pid, hooks, seconds)
            processes.stop(process, f"clarion {name}", timeout=30)
            if len(samples) < 2 * SETTLED_S:
                raise SystemExit(f"clarion {name} exited after {len(samples)} s: see {directory}/{name}.log")
            drained = hooks.count() - before
            print(f"  {name}: RSS MB per second: {curve(samples, 'rss_mb')}", flush=True)
            print(f"  {name}: render workers MB: {curve(samples, 'render_workers_mb')}", flush=True)
            print(f"  {name}: webhooks received: {curve(samples, 'received')}", flush=True)
            rows.append(verdict(name, samples, backlog, drained))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    return run_alone(lambda: measure(args.backlog, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
