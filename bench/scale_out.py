"""Scale-out on PostgreSQL: delivery throughput of 2 `clarion worker` processes vs 1 (goal 5 of issue 9).

A fresh PostgreSQL database (created and dropped here), a backlog of
`--occurrences` pending occurrences of `hook-burst` (10 webhook recipients
each) written straight into it, then 1 `clarion worker` — and, on a second
backlog of the same size, 2 started together — deliver to the bench webhook
receiver (uvicorn + uvloop in its own process; its aiohttp ceiling, measured in
delivery_throughput.py, is several times what the workers reach, so it is not
the bottleneck; the channel's per-host cap is lifted to its `max_concurrency`,
since every recipient is on that one host). Throughput is measured between the 5th and 95th percentile of
arrivals, so process start-up is not counted. CPU seconds of the workers,
PostgreSQL and the receiver, and of the whole machine, show where the limit is.

    python bench/scale_out.py [--occurrences 600]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import harness
from backlog import insert_backlog
from catalog import RECIPIENTS
from report import Row, run_alone


# Every bench recipient is on one host (the receiver): the webhook channel's per-host cap
# (`max_per_host`, 4 by default) would be the limit, the same with 1 worker or 2. Lifted to the
# channel's `max_concurrency`, the receiver is no bottleneck.
UNCAPPED = {"max_per_host": 32}


def drain(processes: harness.Processes, clarion: harness.Clarion, hooks: harness.Sink, workers: int,
          occurrences: int, timeout: float = 180.0) -> dict[str, object]:
    insert_backlog(clarion, "hook-burst", occurrences)
    before, expected = hooks.count(), occurrences * RECIPIENTS
    postgres = harness.pids_named("postgres")
    cpu_before = {pid: harness.cpu_seconds(pid) for pid in postgres}
    busy_before = harness.machine_busy()
    wall = time.monotonic()
    started = [clarion.worker(processes, log_name=f"worker-{workers}-{n}") for n in range(workers)]
    complete = hooks.wait_for(before + expected, timeout)
    wall = time.monotonic() - wall
    busy_after = harness.machine_busy()
    cpu = {
        "workers": sum(harness.cpu_seconds(pid) for process in started
                       for pid in (process.pid, *harness.children(process.pid))),
        "postgres": sum(harness.cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in harness.pids_named("postgres")),
        "receiver": harness.cpu_seconds(hooks.process.pid),
    }
    for process in started:
        processes.stop(process, "clarion worker", timeout=30)
    arrivals = sorted(int(line[0]) for line in hooks.lines()[before:])
    first, last = arrivals[int(len(arrivals) * 0.05)], arrivals[int(len(arrivals) * 0.95) - 1]
    per_s = (0.9 * len(arrivals)) / ((last - first) / 1e6) if last > first else 0.0
    elapsed = (arrivals[-1] - arrivals[0]) / 1e6 if arrivals else 0.0
    machine = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    return {"workers": workers, "messages": expected, "received": len(arrivals), "complete": complete,
            "per_s": per_s, "seconds": round(elapsed, 2), "wall_s": round(wall, 2),
            "cpu_s": {k: round(v, 2) for k, v in cpu.items()}, "machine_busy": round(machine, 3)}


def measure(occurrences: int) -> list[Row]:
    with harness.Processes() as processes, harness.postgres_database("scale") as url:
        bench = harness.stage(processes, "scale-out", database_url=url, embedded=False,
                              webhook_options=UNCAPPED)
        clarion, hooks = bench.clarion, bench.hooks
        receiver_cpu = harness.cpu_seconds(hooks.process.pid)
        one = drain(processes, clarion, hooks, 1, occurrences)
        two = drain(processes, clarion, hooks, 2, occurrences)
    for run in (one, two):
        run["cpu_s"]["receiver"] = round(run["cpu_s"]["receiver"] - receiver_cpu, 2)  # type: ignore[index]
        receiver_cpu += run["cpu_s"]["receiver"]  # type: ignore[index]
    ratio = two["per_s"] / one["per_s"] if one["per_s"] else 0.0  # type: ignore[operator]

    def where(run: dict[str, object]) -> str:
        """Cores used from the workers' start to the last arrival (start-up included)."""
        cpu: dict[str, float] = run["cpu_s"]  # type: ignore[assignment]
        wall = max(float(run["wall_s"]), 0.001)  # type: ignore[arg-type]
        busy = float(run["machine_busy"]) * (os.cpu_count() or 1)  # type: ignore[arg-type]
        ours = sum(cpu.values()) / wall
        return (f"{busy:.2f} of {os.cpu_count()} cores busy: workers (with render workers) "
                f"{cpu['workers'] / wall:.2f}, postgres {cpu['postgres'] / wall:.2f}, "
                f"receiver {cpu['receiver'] / wall:.2f}, everything else {max(0.0, busy - ours):.2f}")

    incomplete = [run for run in (one, two) if not run["complete"]]
    return [
        Row(f"scale-out, PostgreSQL: 2 workers vs 1, {occurrences} occurrences × {RECIPIENTS} webhooks each"
            " (max_per_host = 32)",
            f"{two['per_s']:,.0f} vs {one['per_s']:,.0f} msg/s" + (" (incomplete drain)" if incomplete else ""),
            ratio=f"{ratio:.2f}", goal="(report)", met=False if incomplete else None,
            figures={"one": one, "two": two, "ratio": round(ratio, 3)}),
        Row("scale-out: where the limit is (1 worker | 2 workers)", where(one), where(two)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=600)
    args = parser.parse_args()
    return run_alone(lambda: measure(args.occurrences))


if __name__ == "__main__":
    sys.exit(main())
