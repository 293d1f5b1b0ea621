"""Trigger throughput of `clarion serve` against a ceiling built in the same run (goal 1 of issue 9).

For each database (SQLite by default; PostgreSQL on a fresh database created
and dropped here):

1. the ceiling: bench/ceiling_app.py (Litestar, same route, body decoded into
   a Struct, 201; uvicorn + uvloop + httptools, one process) under wrk;
2. Clarion: `clarion serve` as a user runs it — the default install,
   `synchronous = FULL`, embedded dispatcher on, delivering every trigger of
   `order-paid` (1 email + 1 webhook) to the bench sinks in their own processes —
   under the same wrk script (2 threads, 32 connections, the issue's body,
   `Authorization: Key …`).

Both runs get a short warm-up first; the ceiling is measured before and after
Clarion and the better of the two is the ceiling (the machine may be shared:
a neighbour's burst must not make Clarion look closer to the ceiling than it
is). After Clarion stops, every occurrence id
wrk saw in a 201 (the script's `response` hook collects them) must be a row of
the occurrence table. Each run also reports the server's CPU time per
request (process and render workers, from /proc), which a neighbour's load on
a shared machine moves much less than the rate. On SQLite one extra figure
without a goal: the dispatcher off.

    python bench/trigger_throughput.py [--seconds 10] [--no-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from report import Row, ratio_row, run_alone

GOALS = {"sqlite": 0.6, "postgresql": 0.5}
EVENT = "order-paid"


@dataclass(frozen=True)
class Measured:
    """What wrk saw, and the CPU the server spent per answered request meanwhile."""

    wrk: harness.WrkResult
    cpu_us_per_request: float

    @property
    def rate(self) -> float:
        return self.wrk.rate


def measured_wrk(pid: int, url: str, **options: Any) -> Measured:
    before = harness.cpu_seconds(pid)
    result = harness.wrk(url, **options)
    spent = harness.cpu_seconds(pid) - before
    return Measured(result, spent / max(result.requests, 1) * 1e6)


def ceiling(processes: harness.Processes, directory: Path, seconds: float, warmup: float) -> Measured:
    directory.mkdir()
    port = harness.free_port()
    app = processes.start("ceiling app", [sys.executable, str(harness.BENCH / "ceiling_app.py"), "--port", str(port)],
                          env=harness.fast_env(), log=directory / "ceiling.log")
    harness.wait_for_port(port, app, name="ceiling app")
    url = f"http://127.0.0.1:{port}" + harness.TRIGGER_PATH.format(event=EVENT)
    harness.wrk(url, seconds=warmup)
    (directory / "ceiling-ids").mkdir()
    result = measured_wrk(app.pid, url, seconds=seconds, ids_dir=directory / "ceiling-ids")  # same hook work as Clarion's
    processes.stop(app, "ceiling app")
    return result


def clarion_run(processes: harness.Processes, directory: Path, smtp: harness.Sink, hooks: harness.Sink,
                database_url: str | None, seconds: float, warmup: float, *,
                embedded: bool = True) -> tuple[Measured, dict[str, int]]:
    """wrk against a fresh `clarion serve`; returns wrk's figures and the commit check."""
    clarion = harness.Clarion.create(directory, smtp_port=smtp.port, webhook_port=hooks.port,
                                     database_url=database_url, embedded=embedded)
    server = clarion.serve(processes)
    env = {"BENCH_AUTH": f"Key {clarion.token}"}
    (directory / "warmup-ids").mkdir()
    (directory / "ids").mkdir()
    warm = harness.wrk(clarion.trigger_url(EVENT), seconds=warmup, env=env, ids_dir=directory / "warmup-ids")
    result = measured_wrk(server.pid, clarion.trigger_url(EVENT), seconds=seconds, env=env, ids_dir=directory / "ids")
    processes.stop(server, "clarion serve", timeout=30)
    answered = set(warm.ids) | set(result.wrk.ids)
    stored = {row[0] for row in clarion.query("SELECT id FROM occurrence")}
    check = {"answered_201": warm.created + result.wrk.created, "distinct_ids": len(answered), "rows": len(stored),
             "missing": len(answered - stored)}
    return result, check


def cpu_row(name: str, clarion: Measured, top: Measured) -> Row:
    """CPU per request: the server's own cost, which a neighbour's load on a shared machine hardly moves."""
    return Row(f"trigger, {name}: server CPU per request (no goal; ceiling ÷ Clarion)",
               f"{clarion.cpu_us_per_request:,.0f} µs", f"{top.cpu_us_per_request:,.0f} µs",
               f"{top.cpu_us_per_request / clarion.cpu_us_per_request:.2f}",
               figures={"clarion_us": clarion.cpu_us_per_request, "ceiling_us": top.cpu_us_per_request})


def measure(database: str, seconds: float, warmup: float, *, extras: bool = True) -> tuple[list[Row], float]:
    """The rows for one database, and Clarion's trigger rate (the latency probe runs at half of it)."""
    rows: list[Row] = []
    with harness.Processes() as processes:
        directory = harness.phase_dir(f"trigger-{database}")
        smtp = harness.start_smtp_sink(processes, directory)
        hooks = harness.start_webhook_sink(processes, directory)
        with (harness.postgres_database("trigger") if database == "postgresql" else contextlib.nullcontext()) as url:
            before = ceiling(processes, directory / "before", seconds, warmup)
            (directory / "clarion").mkdir()
            run, check = clarion_run(processes, directory / "clarion", smtp, hooks, url, seconds, warmup)
            after = ceiling(processes, directory / "after", seconds, warmup)
        top = max(before, after, key=lambda result: result.rate)
        label = "SQLite, synchronous=FULL" if database == "sqlite" else "PostgreSQL"
        clarion, ceiling_wrk = run.wrk, top.wrk
        rows.append(ratio_row(
            f"trigger, {label}, dispatcher on (wrk -t2 -c32): req/s", run.rate, top.rate, "req/s", GOALS[database],
            clarion_p50_ms=clarion.p50_ms, clarion_p99_ms=clarion.p99_ms, ceiling_p50_ms=ceiling_wrk.p50_ms,
            ceiling_p99_ms=ceiling_wrk.p99_ms, clarion_non_201=clarion.other_status + clarion.errors,
            ceiling_non_201=ceiling_wrk.other_status + ceiling_wrk.errors, ceiling_before=before.rate,
            ceiling_after=after.rate))
        rows.append(Row(f"trigger, {label}: latency p50 / p99", f"{clarion.p50_ms:.1f} / {clarion.p99_ms:.1f} ms",
                        f"{ceiling_wrk.p50_ms:.1f} / {ceiling_wrk.p99_ms:.1f} ms",
                        figures={"clarion_max_ms": clarion.max_ms, "ceiling_max_ms": ceiling_wrk.max_ms}))
        rows.append(cpu_row(f"{label}, dispatcher on", run, top))
        committed = check["missing"] == 0 and check["rows"] >= check["answered_201"] and clarion.other_status == 0
        rows.append(Row(f"trigger, {label}: every 201 is a committed row",
                        f"{check['answered_201']:,} × 201, {check['rows']:,} rows, {check['missing']} missing"
                        + (f", {clarion.other_status + clarion.errors} non-201/errors"
                           if clarion.other_status + clarion.errors else ""),
                        goal="0 missing", met=committed, figures=check))
        if database == "sqlite" and extras:
            (directory / "dispatcher-off").mkdir()
            extra, _ = clarion_run(processes, directory / "dispatcher-off", smtp, hooks, None, seconds, warmup,
                                   embedded=False)
            rows.append(Row("trigger, SQLite, dispatcher off (no goal)", f"{extra.rate:,.0f} req/s",
                            f"{top.rate:,.0f} req/s", f"{extra.rate / top.rate:.2f}",
                            figures={"p50_ms": extra.wrk.p50_ms, "p99_ms": extra.wrk.p99_ms}))
            rows.append(cpu_row("SQLite, dispatcher off", extra, top))
    return rows, run.rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    def both() -> list[Row]:
        rows, _ = measure("sqlite", args.seconds, args.warmup)
        if not args.no_postgres:
            rows += measure("postgresql", args.seconds, args.warmup, extras=False)[0]
        return rows

    return run_alone(both)


if __name__ == "__main__":
    sys.exit(main())
