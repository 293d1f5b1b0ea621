"""`make bench`: every goal of issue 9 as a ratio against a ceiling built in the same run, in one table.

Phases (each also runs on its own: `python bench/<phase>.py --help`):

| phase | module | goal |
|---|---|---|
| trigger throughput, SQLite and PostgreSQL, wrk | trigger_throughput.py | ≥ 0.6 / ≥ 0.5 of the ceiling; every 201 committed |
| email and webhook delivery throughput | delivery_throughput.py | ≥ 0.7 of the client ceiling |
| trigger→receipt latency at half the trigger maximum | delivery_latency.py | p99 < 1 s |
| RSS of serve and worker while 100,000 occurrences drain | memory.py | flat ± 20 % |
| 2 workers vs 1 on PostgreSQL | scale_out.py | reported |
| per-message render cost | render_cost.py | ≤ 200 µs/message through the pool |
| SQLite write engine vs stock Piccolo | sqlite_write.py | reported |

Prints the machine (CPUs, CPU model, Python, load average), the table, and
writes it with every figure to var/bench/results.md and results.json. Exits 1
when a goal is missed (or a phase could not run), 2 when wrk is missing.
Not part of `make test`. A profile of the same workloads: bench/profiling.py.

    python bench/run.py [--only trigger,delivery,latency,memory,scale,render,sqlite] [--short]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

import delivery_latency
import delivery_throughput
import harness
import memory
import scale_out
import trigger_throughput
from report import Row, dump, table

PHASES = ("trigger", "delivery", "latency", "memory", "scale", "render", "sqlite")


def subprocess_json(script: str, *args: str) -> dict[str, object]:
    """Run one of the older stand-alone benchmarks; its last stdout line is a JSON summary."""
    result = subprocess.run([sys.executable, str(harness.BENCH / script), *args], capture_output=True, text=True,
                            timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{script} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def render_rows() -> list[Row]:
    figures = subprocess_json("render_cost.py", "--seconds", "1")
    rows = []
    for entry in figures["rows"]:  # type: ignore[union-attr]
        last = entry["batch"] == 100
        rows.append(Row(f"render cost, batch of {entry['batch']} (pool of worker processes vs in-process sandbox)",
                        f"{entry['pool_us']:.0f} µs/msg", f"{entry['in_process_us']:.0f} µs/msg",
                        f"{entry['ratio']:.2f}", f"≤ {figures['target_us_per_message']:g} µs/msg" if last else "",
                        entry["pool_us"] <= figures["target_us_per_message"] if last else None, entry))
    return rows


def sqlite_rows() -> list[Row]:
    figures = subprocess_json("sqlite_write.py", "--seconds", "2")
    ours, stock = figures["clarion"], figures["stock"]
    return [Row("SQLite writes, 48 concurrent writers (ClarionSQLiteEngine vs stock Piccolo SQLiteEngine)",
                f"{ours['inserts_per_s']:,.0f} inserts/s p99 {ours['p99_ms']:.0f} ms",  # type: ignore[index]
                f"stock {stock['inserts_per_s']:,.0f} inserts/s p99 {stock['p99_ms']:.0f} ms",  # type: ignore[index]
                f"{figures['ratio']}×", figures=figures)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated phases: " + ", ".join(PHASES))
    parser.add_argument("--short", action="store_true", help="shorter runs, for trying the benchmark out")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    try:
        harness.require_wrk()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    seconds = 5.0 if args.short else 10.0
    machine = harness.machine()
    stack = harness.fast_stack_in_venv()
    print(f"machine: {machine}", flush=True)
    print(f"Clarion's venv (the default install): uvloop {'yes' if stack['uvloop'] else 'no'}, "
          f"httptools {'yes' if stack['httptools'] else 'no'}", flush=True)
    rows: list[Row] = [Row("default install: uvloop / httptools in .venv",
                           f"{'yes' if stack['uvloop'] else 'no'} / {'yes' if stack['httptools'] else 'no'}",
                           "yes / yes")]
    postgres_missing = harness.postgres_available()
    trigger_max: list[float] = []

    def run_trigger() -> list[Row]:
        found, rate = trigger_throughput.measure("sqlite", seconds, 2.0)
        trigger_max.append(rate)
        if postgres_missing:
            return found + [Row("trigger, PostgreSQL", f"not measured: {postgres_missing}", goal="≥ 0.5", met=False)]
        return found + trigger_throughput.measure("postgresql", seconds, 2.0, extras=False)[0]

    def run_delivery() -> list[Row]:
        return delivery_throughput.measure(100 if args.short else 200, 250 if args.short else 500)

    def run_latency() -> list[Row]:
        maximum = trigger_max[0] if trigger_max else None
        if maximum is None:  # run alone: measure the maximum quickly first
            _, maximum = trigger_throughput.measure("sqlite", 5.0, 1.0, extras=False)
        return delivery_latency.measure(maximum / 2, 10.0 if args.short else 20.0, maximum=maximum)

    def run_memory() -> list[Row]:
        return memory.measure(100_000, 20.0 if args.short else 40.0)

    def run_scale() -> list[Row]:
        if postgres_missing:
            return [Row("scale-out, PostgreSQL", f"not measured: {postgres_missing}", met=False)]
        return scale_out.measure(300 if args.short else 600)

    work: dict[str, Callable[[], list[Row]]] = {
        "trigger": run_trigger, "delivery": run_delivery, "latency": run_latency, "memory": run_memory, "scale": run_scale,
        "render": render_rows, "sqlite": sqlite_rows,
    }
    started = time.monotonic()
    for name in PHASES:
        if name not in only:
            continue
        print(f"\n=== {name} ({time.monotonic() - started:.0f} s in) ===", flush=True)
        try:
            found = work[name]()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken phase must not hide the others
            traceback.print_exc()
            found = [Row(f"{name}: could not run", f"{type(exc).__name__}: {exc}"[:300], met=False)]
        for row in found:
            print(f"  {row.measure}: {row.clarion}" + (f" | ceiling {row.ceiling}" if row.ceiling else "")
                  + (f" | ratio {row.ratio}" if row.ratio else "") + (f" | {row.verdict}" if row.goal else ""),
                  flush=True)
        rows += found
    machine["loadavg_end"] = os.getloadavg()
    machine["duration_s"] = round(time.monotonic() - started)
    text = table(rows, machine)
    print("\n" + text)
    print(f"\n(whole run: {machine['duration_s']} s; every figure: var/bench/results.json)")
    harness.VAR.mkdir(parents=True, exist_ok=True)
    (harness.VAR / "results.md").write_text(text + "\n")
    (harness.VAR / "results.json").write_text(dump(rows, machine) + "\n")
    missed = [row.measure for row in rows if row.met is False]
    if missed:
        print(f"\n{len(missed)} goal(s) missed: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
