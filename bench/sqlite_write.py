"""Concurrent SQLite insert throughput: Piccolo's stock `SQLiteEngine` vs `ClarionSQLiteEngine`.

N writers (default 48) insert rows for T seconds (default 3) through each
engine, both on a fresh temporary file in WAL mode with `synchronous=FULL`.
Each writer awaits one plain Piccolo `insert` at a time (outside any explicit
transaction: the stock engine's own connection + commit; Clarion's implicit,
group-committed unit). Prints inserts/s, errors (by message), p50/p99 latency
per engine, the throughput ratio, and a final one-line JSON summary. Clarion
runs twice: bare inserts (implicit units) and each insert in `engine.write()`.

    python bench/sqlite_write.py [--writers 48] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from piccolo.columns import Integer, Varchar
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

try:
    from clarion.db.sqlite import ClarionSQLiteEngine
except ModuleNotFoundError:  # not installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
    from clarion.db.sqlite import ClarionSQLiteEngine


class BenchRow(Table, tablename="bench_row"):
    """One inserted row."""

    writer = Integer()
    payload = Varchar(length=200)


def prepare_file(path: str) -> int:
    """Create the table in WAL mode; returns `synchronous` as a fresh connection sees it."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(
            "CREATE TABLE bench_row (id INTEGER PRIMARY KEY, writer INTEGER, payload VARCHAR(200))"
        )
    connection.close()
    fresh = sqlite3.connect(path)
    try:
        return int(fresh.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        fresh.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_writers(writers: int, seconds: float, unit: Any = None) -> dict[str, Any]:
    """`unit`: a factory of async context managers to wrap each insert in (None: bare insert)."""
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    deadline = time.perf_counter() + seconds

    async def writer(number: int) -> None:
        sequence = 0
        while time.perf_counter() < deadline:
            sequence += 1
            started = time.perf_counter()
            row = BenchRow(writer=number, payload=f"w{number}-{sequence}")
            try:
                if unit is None:
                    await BenchRow.insert(row)
                else:
                    async with unit():
                        await BenchRow.insert(row)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors[f"{type(exc).__name__}: {exc}"] += 1
            else:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(writer(number) for number in range(writers)))
    elapsed = time.perf_counter() - started
    rows = await BenchRow.count()
    return {
        "inserts": len(latencies),
        "rows": rows,
        "elapsed_s": round(elapsed, 3),
        "inserts_per_s": round(len(latencies) / elapsed, 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


async def bench_stock(directory: str, writers: int, seconds: float) -> dict[str, Any]:
    path = os.path.join(directory, "stock.sqlite")
    synchronous = prepare_file(path)
    BenchRow._meta._db = SQLiteEngine(path=path)
    result = await run_writers(writers, seconds)
    result["synchronous"] = synchronous
    return result


async def bench_clarion(directory: str, writers: int, seconds: float, explicit_units: bool) -> dict[str, Any]:
    path = os.path.join(directory, f"clarion-{int(explicit_units)}.sqlite")
    prepare_file(path)
    engine = ClarionSQLiteEngine(path, synchronous="FULL")
    BenchRow._meta._db = engine
    await engine.start()
    try:
        result = await run_writers(writers, seconds, engine.write if explicit_units else None)
    finally:
        await engine.close()
    result["synchronous"] = {"FULL": 2}[engine.synchronous]
    result["commits"] = engine.stats.commits
    result["units_per_commit"] = round(engine.stats.units / max(engine.stats.commits, 1), 1)
    return result


def show(name: str, result: dict[str, Any]) -> None:
    print(
        f"{name:15} {result['inserts_per_s']:>9.1f} inserts/s  errors={result['errors']:<5}"
        f" p50={result['p50_ms']:.2f}ms p99={result['p99_ms']:.2f}ms"
        f"  rows={result['rows']} in {result['elapsed_s']}s synchronous={result['synchronous']}"
        + (
            f" commits={result['commits']} units/commit={result['units_per_commit']}"
            if "commits" in result
            else ""
        )
    )
    for kind, count in result["error_kinds"].items():
        print(f"                {count} x {kind}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as directory:
        print(f"{args.writers} concurrent writers, {args.seconds}s per engine, WAL + synchronous=FULL")
        stock = await bench_stock(directory, args.writers, args.seconds)
        show("stock", stock)
        ours = await bench_clarion(directory, args.writers, args.seconds, explicit_units=False)
        show("clarion", ours)
        units = await bench_clarion(directory, args.writers, args.seconds, explicit_units=True)
        show("clarion+write()", units)
    ratio = ours["inserts_per_s"] / stock["inserts_per_s"] if stock["inserts_per_s"] else None
    unit_ratio = units["inserts_per_s"] / stock["inserts_per_s"] if stock["inserts_per_s"] else None
    print(
        f"ratio clarion/stock: {ratio:.1f}x (bare inserts), {unit_ratio:.1f}x (each in write())"
        if ratio and unit_ratio
        else "ratio: stock made no inserts"
    )
    print(
        json.dumps(
            {
                "writers": args.writers,
                "seconds": args.seconds,
                "stock": stock,
                "clarion": ours,
                "clarion_write_units": units,
                "ratio": round(ratio, 1) if ratio else None,
                "ratio_write_units": round(unit_ratio, 1) if unit_ratio else None,
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
