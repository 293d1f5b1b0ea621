"""Sampling profiles (py-spy) of the paths `make bench` measures, and where their time goes.

Three workloads, set up exactly as in the benchmarks:

* `serve`: `clarion serve` (SQLite, synchronous=FULL, embedded dispatcher on)
  under the trigger load of trigger_throughput.py (wrk -t2 -c32, `order-paid`:
  1 email + 1 webhook delivered to the bench sinks);
* `email`: `clarion worker` draining a backlog of `mail-burst` occurrences
  (10 emails each) into the bench SMTP sink;
* `webhook`: `clarion worker` draining a backlog of `hook-burst` occurrences
  (10 webhooks each) into the bench webhook receiver;
* `backlog` (not by default): `clarion worker` draining the 100,000-occurrence
  `backlog` of memory.py (1 webhook each).

Each is recorded with `py-spy record --subprocesses --nonblocking` (100 Hz;
py-spy needs root or CAP_SYS_PTRACE) into
var/bench/profiles/<name>.speedscope.json (open it at https://www.speedscope.app).
Without `--idle`, py-spy keeps only the samples in which a thread was running
(not sleeping in select/epoll, a lock, a queue, a read): a thread's samples over
seconds × 100 is the share of the time it was busy. The summary gives that per
process and thread, its top functions by own time and by time inside them, and
the samples in thread hand-offs (`call_soon_threadsafe`, `run_in_executor`,
`to_thread`).
The summary is printed and written to var/bench/profiles/summary.md.

    python bench/profiling.py [--seconds 12] [--only serve,email,webhook] [--gil]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import harness
from backlog import insert_backlog

OUT = harness.VAR / "profiles"
RATE_HZ = 100
HOPS = ("call_soon_threadsafe", "run_in_executor", "to_thread", "_call_soon", "put_nowait")
WRAPPERS = {"<module>", "run", "main", "_run", "_run_once", "run_forever", "run_until_complete", "_bootstrap",
            "_bootstrap_inner", "_worker", "serve", "_serve", "startup", "run_module", "_run_module_as_main",
            "_run_code"}


GIL_ONLY: list[str] = []
"""["--gil"] with `--gil`: only the samples of the thread holding the GIL."""


def record(pid: int, name: str, seconds: float) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}{'-gil' if GIL_ONLY else ''}.speedscope.json"
    result = subprocess.run([harness.py_spy(), "record", "--pid", str(pid), "--duration", f"{seconds:g}",
                             "--rate", str(RATE_HZ), "--subprocesses", "--nonblocking", *GIL_ONLY,
                             "--format", "speedscope", "--output", str(path)],
                            capture_output=True, text=True, timeout=seconds + 60)
    for line in result.stderr.splitlines():
        if "behind" in line or "rror" in line:
            print(f"  py-spy: {line.strip()}", flush=True)
    if result.returncode != 0 or not path.exists():
        raise SystemExit(f"py-spy failed ({result.returncode}): {result.stderr.strip()[-1500:]}"
                         + ("\n(py-spy needs root or CAP_SYS_PTRACE)" if os.geteuid() != 0 else ""))
    return path


def profile_serve(seconds: float) -> Path:
    with harness.Processes() as processes:
        clarion = harness.stage(processes, "profile-serve").clarion
        server = clarion.serve(processes)
        load: dict[str, Any] = {}
        loader = threading.Thread(target=lambda: load.update(result=harness.wrk(
            clarion.trigger_url("order-paid"), seconds=seconds + 4, env={"BENCH_AUTH": f"Key {clarion.token}"})))
        loader.start()
        time.sleep(2)
        path = record(server.pid, "serve", seconds)
        loader.join()
        print(f"  serve: {load['result'].rate:,.0f} triggers/s while profiled", flush=True)
    return path


WORKER_BACKLOGS = {  # workload: (event, occurrences in the backlog, messages per occurrence)
    "email": ("mail-burst", 600, 10),
    "webhook": ("hook-burst", 600, 10),
    "backlog": ("backlog", 100_000, 1),
}


def profile_worker(kind: str, seconds: float) -> Path:
    event, occurrences, messages_each = WORKER_BACKLOGS[kind]
    with harness.Processes() as processes:
        bench = harness.stage(processes, f"profile-{kind}", embedded=False)
        directory, clarion = bench.directory, bench.clarion
        sink = bench.smtp if event == "mail-burst" else bench.hooks
        insert_backlog(clarion, event, occurrences)
        worker = clarion.worker(processes)
        if not sink.wait_for(1, 60):
            raise SystemExit(f"clarion worker delivered nothing: see {directory}/worker.log")
        before = sink.count()
        path = record(worker.pid, kind, seconds)
        delivered = sink.count() - before
        print(f"  {kind}: {delivered / seconds:,.0f} messages/s while profiled"
              + (" (the backlog ran out: raise it)" if delivered >= occurrences * messages_each - before else ""),
              flush=True)
    return path


# ---------------------------------------------------------------- summary

PLUMBING = ("asyncio/runners.py", "asyncio/base_events.py", "asyncio/events.py", "uvicorn/server.py",
            "uvicorn/_compat.py", "uvicorn/main.py", "clarion/__main__.py", "runpy.py", "threading.py",
            "concurrent/futures/thread.py")
PACKAGES = ("clarion_channels", "clarion_plugins", "clarion", "litestar", "uvicorn", "h11", "httptools", "anyio",
            "aiosqlite", "piccolo", "asyncpg", "aiohttp", "aiosmtplib", "jinja2", "msgspec", "yarl", "multidict",
            "email", "logging", "asyncio", "selectors", "json", "concurrent", "threading", "sqlite3")


def package_of(file: str) -> str:
    parts = file.replace("\\", "/").split("/")
    for part in reversed(parts[:-1]):
        if part in PACKAGES:
            return part
    stem = parts[-1].removesuffix(".py")
    return stem if stem in PACKAGES else "other"


def short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def summarize(path: Path, seconds: float) -> str:
    """Per thread: busy share, own time by package and function, time inside functions, thread hops."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]

    def function(index: int) -> tuple[str, str]:
        frame = frames[index]
        return frame["name"], frame.get("file") or ""

    def label(key: tuple[str, str]) -> str:
        name, file = key
        short = file
        for marker in ("/service/", "/channels/", "/plugins/", "site-packages/", "/lib/python3.11/"):
            if marker in file:
                short = file.split(marker, 1)[1]
                break
        return f"`{name}` ({short})"

    expected = seconds * RATE_HZ
    lines = [f"### {path.stem.removesuffix('.speedscope')}", "",
             f"Sampled at {RATE_HZ} Hz for {seconds:g} s: {expected:.0f} samples = one thread busy all the time.", ""]
    hops: collections.Counter[str] = collections.Counter()
    processes: collections.Counter[str] = collections.Counter()
    for profile in sorted(data["profiles"], key=lambda p: -len(p["samples"])):
        active = [[i for i in stack if not frames[i]["name"].startswith("process ")] for stack in profile["samples"]]
        active = [stack for stack in active if stack]
        processes[profile["name"].split(" Thread")[0]] += len(active)
        if len(active) < 0.02 * expected:
            continue
        own: collections.Counter[tuple[str, str]] = collections.Counter()
        packages: collections.Counter[str] = collections.Counter()
        inside: collections.Counter[tuple[str, str]] = collections.Counter()
        for stack in active:
            leaf = function(stack[-1])
            own[leaf] += 1
            packages[package_of(leaf[1])] += 1
            keys = [function(index) for index in stack]
            inside.update(set(keys))
            for depth, key in enumerate(keys):
                if short_name(key[0]) in HOPS:
                    callers = " > ".join(short_name(k[0]) for k in keys[max(0, depth - 3):depth + 1])
                    hops[f"{profile['name'].split(' ', 3)[-1]}: {callers}"] += 1
                    break
        lines.append(f"**{profile['name']}**: busy {len(active) / expected * 100:.0f} % ({len(active)} samples). "
                     "Own time by package: " + ", ".join(
                         f"{name} {count / len(active) * 100:.0f} %" for name, count in packages.most_common(8)))
        lines.append("")
        lines.append("| own time | function | | inside | function |")
        lines.append("|---|---|---|---|---|")
        mine = [(key, count) for key, count in inside.most_common()
                if short_name(key[0]) not in WRAPPERS and not key[1].endswith(PLUMBING)
                and count <= 0.97 * len(active)][:12]
        top_own = own.most_common(12)
        for row in range(max(len(mine), len(top_own))):
            left = (f"{top_own[row][1] / len(active) * 100:.1f} % | {label(top_own[row][0])}"
                    if row < len(top_own) else " | ")
            right = f"{mine[row][1] / len(active) * 100:.1f} % | {label(mine[row][0])}" if row < len(mine) else " | "
            lines.append(f"| {left} | | {right} |")
        lines.append("")
    lines.append("Busy, by process (cores used by Python code): " + ", ".join(
        f"{name} {count / expected:.2f}" for name, count in processes.most_common()))
    lines.append("")
    if hops:
        lines.append("Thread hand-offs (samples whose stack is in one; thread: the last frames before it):")
        lines.append("")
        for key, count in hops.most_common(12):
            lines.append(f"- {count} × {key}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--only", default="serve,email,webhook")
    parser.add_argument("--gil", action="store_true", help="keep only samples of the thread holding the GIL")
    args = parser.parse_args()
    if args.gil:
        GIL_ONLY.append("--gil")
    harness.require_wrk()
    machine = harness.machine()
    print(f"machine: {machine}", flush=True)
    parts = [f"Profiles taken {machine['date']} on {machine['nproc']} CPUs ({machine['cpu']}), "
             f"Python {machine['python']}, load average {'/'.join(f'{v:.2f}' for v in machine['loadavg'])}, "
             f"commit {machine['commit']}.", ""]
    for name in args.only.split(","):
        print(f"=== {name} ===", flush=True)
        path = profile_serve(args.seconds) if name == "serve" else profile_worker(name, args.seconds)
        summary = summarize(path, args.seconds)
        print(summary, flush=True)
        parts.append(summary)
    summary_path = OUT / f"summary{'-gil' if args.gil else ''}.md"
    summary_path.write_text("\n".join(parts) + "\n")
    print(f"written: {summary_path} and {OUT}/*.speedscope.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
