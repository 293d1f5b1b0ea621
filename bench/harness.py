"""What every benchmark shares: ports, child processes, a Clarion working directory, wrk, /proc samples.

Every server binds 127.0.0.1. Every child process is started in its own
process group through `Processes` and is terminated (then killed) when the
`with` block ends, also on Ctrl-C or an exception, so a benchmark leaves
nothing running.

Everything runs in `.venv` (Clarion's own, `make install`): `clarion serve` /
`clarion worker` run exactly as a user installs them, with the same server
stack as the ceiling app (uvicorn + uvloop + httptools, dependencies of
Clarion), and the client-side ceilings (aiosmtplib, aiohttp) use the same
libraries Clarion uses. py-spy, the one bench-only tool, is installed by
`make bench` into `var/bench-tools`, next to the venv.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VAR = ROOT / "var" / "bench"
TOOLS = ROOT / "var" / "bench-tools"
WRK_SCRIPTS = BENCH / "wrk"
POSTGRES_ADMIN_URL = os.environ.get("CLARION_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TRIGGER_PATH = "/api/o/bench/p/web/a/shop/e/{event}/trigger/"
TRIGGER_BODY = ('{"context": {"order_id": "A1", "amount": "10.00", "customer": {"id": 42, "tier": "gold"}},'
                ' "options": {}}')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fast_env(**extra: str) -> dict[str, str]:
    """The environment of the ceiling app and the sinks (var/bench-tools on the path)."""
    paths = [str(TOOLS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def py_spy() -> str:
    binary = TOOLS / "bin" / "py-spy"
    if binary.exists():
        return str(binary)
    found = shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is missing: run `make bench` once (it installs var/bench-tools)")
    return found


class Processes:
    """Child processes started for one benchmark; all of them are stopped when the block ends."""

    def __init__(self) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_: object) -> None:
        for name, process in reversed(self._children):
            self.stop(process, name)
        self._children.clear()

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
              cwd: Path | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
        output = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
        try:
            process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if log is not None:
                output.close()  # type: ignore[union-attr]
        self._children.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], name: str = "", timeout: float = 20.0) -> int | None:
        """SIGTERM to the child's process group (graceful stop), SIGKILL after `timeout`."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"  {name or process.args}: no exit {timeout:g}s after SIGTERM, killing it", flush=True)
        # Whatever is left in the group (render workers of a killed parent, …).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self._children = [(n, p) for n, p in self._children if p is not process]
        return process.returncode


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0,
                  name: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not listen on 127.0.0.1:{port} within {timeout:g}s")


def phase_dir(name: str) -> Path:
    """A fresh scratch directory for one benchmark phase (kept under var/bench for its logs)."""
    VAR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=VAR))
    return path


# ---------------------------------------------------------------- sinks (separate processes)

@dataclass
class Sink:
    """A receiving server in its own process; it appends one line per message to `log`."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def count(self) -> int:
        try:
            with open(self.log, "rb") as handle:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 16), b""))
        except FileNotFoundError:
            return 0

    def lines(self) -> list[list[str]]:
        try:
            return [line.split("\t") for line in self.log.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def wait_for(self, expected: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= expected:
                return True
            time.sleep(0.05)
        return self.count() >= expected


def start_smtp_sink(processes: Processes, directory: Path) -> Sink:
    port, log = free_port(), directory / "smtp-received.tsv"
    process = processes.start("smtp sink", [sys.executable, str(BENCH / "smtp_sink.py"), "--port", str(port),
                                            "--log", str(log)], env=fast_env(), log=directory / "smtp-sink.log")
    wait_for_port(port, process, name="SMTP sink")
    return Sink(port, log, process)


def start_webhook_sink(processes: Processes, directory: Path) -> Sink:
    port, log = free_port(), directory / "webhooks-received.tsv"
    process = processes.start("webhook sink", [sys.executable, str(BENCH / "webhook_sink.py"), "--port", str(port),
                                               "--log", str(log)], env=fast_env(),
                              log=directory / "webhook-sink.log")
    wait_for_port(port, process, name="webhook sink")
    return Sink(port, log, process)


# ---------------------------------------------------------------- Clarion

CONFIG = """\
# config/clarion.toml (the default install) with the ports of this run.
[server]
host = "127.0.0.1"
port = {http_port}

[database]
url = "{database_url}"
synchronous = "FULL"

[dispatch]
embedded = {embedded}

[logging]
level = "info"

[channels.email]
type = "email"
max_concurrency = 8
[channels.email.options]
host = "127.0.0.1"
port = {smtp_port}
sender = "Clarion <clarion@localhost>"
local_hostname = "localhost"

[channels.webhook]
type = "webhook"
max_concurrency = 32
[channels.webhook.options]
allow_private_targets = true    # the receiver is on 127.0.0.1
timeout_s = 15.0
{webhook_options}"""


@dataclass
class Clarion:
    """A Clarion working directory: its config, catalog, database, and the processes it runs."""

    directory: Path
    database_url: str
    http_port: int
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path, *, smtp_port: int, webhook_port: int, database_url: str | None = None,
               embedded: bool = True, webhook_options: dict[str, int] | None = None) -> Clarion:
        """`webhook_options`: keys added to `[channels.webhook.options]` (default: none, as shipped)."""
        from catalog import bench_catalog

        database_url = database_url or f"sqlite:///{directory / 'clarion.db'}"
        http_port = free_port()
        extra = "".join(f"{key} = {value}\n" for key, value in (webhook_options or {}).items())
        (directory / "clarion.toml").write_text(CONFIG.format(
            http_port=http_port, database_url=database_url, embedded=str(embedded).lower(), smtp_port=smtp_port,
            webhook_options=extra))
        (directory / "catalog.json").write_text(json.dumps(bench_catalog(webhook_port)))
        env = {**os.environ, "CLARION_CONFIG": str(directory / "clarion.toml")}
        env.pop("CLARION_DATABASE_URL", None)
        clarion = cls(directory, database_url, http_port, env=env)
        clarion.cli("migrate")
        clarion.token = json.loads(clarion.cli("apply", "catalog.json"))["api_keys"]["bench/bench"]
        return clarion

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def trigger_url(self, event: str) -> str:
        return self.url + TRIGGER_PATH.format(event=event)

    def cli(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "clarion", *args], cwd=self.directory, env=self.env,
                                capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise SystemExit(f"clarion {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def serve(self, processes: Processes, *, log_name: str = "serve") -> subprocess.Popen[bytes]:
        """`clarion serve` as installed."""
        process = processes.start("clarion serve", [sys.executable, "-m", "clarion", "serve"], env=self.env,
                                  cwd=self.directory, log=self.directory / f"{log_name}.log")
        wait_for_port(self.http_port, process, name="clarion serve")
        return process

    def worker(self, processes: Processes, log_name: str = "worker") -> subprocess.Popen[bytes]:
        # --port 0: each worker's /health/, /ready/, /metrics on a free port (several run side by side).
        return processes.start("clarion worker", [sys.executable, "-m", "clarion", "worker", "--port", "0"], env=self.env,
                               cwd=self.directory, log=self.directory / f"{log_name}.log")

    # -- reading the database from outside the service

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.database_url.startswith("sqlite"):
            connection = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
            try:
                return list(connection.execute(sql, args))
            finally:
                connection.close()
        return postgres_query(self.database_url, sql.replace("?", "${}"), *args)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    def event_id(self, slug: str) -> int:
        return int(self.query("SELECT id FROM event WHERE slug = ?", slug)[0][0])


@dataclass
class Stage:
    """A Clarion working directory with both sinks running: what most phases start from."""

    directory: Path
    smtp: Sink
    hooks: Sink
    clarion: Clarion


def stage(processes: Processes, phase: str, *, database_url: str | None = None, embedded: bool = True,
          webhook_options: dict[str, int] | None = None) -> Stage:
    directory = phase_dir(phase)
    smtp = start_smtp_sink(processes, directory)
    hooks = start_webhook_sink(processes, directory)
    clarion = Clarion.create(directory, smtp_port=smtp.port, webhook_port=hooks.port, database_url=database_url,
                             embedded=embedded, webhook_options=webhook_options)
    return Stage(directory, smtp, hooks, clarion)


def postgres_query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import asyncio

    import asyncpg

    counter = iter(range(1, 1000))
    sql = re.sub(r"\$\{\}", lambda _: f"${next(counter)}", sql)

    async def run() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return asyncio.run(run())


@contextlib.contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards; yields its URL."""
    import asyncio

    import asyncpg

    name = f"clarion_bench_{tag}_{os.getpid()}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_available() -> str | None:
    """None when the PostgreSQL server of POSTGRES_ADMIN_URL answers, else why not."""
    try:
        postgres_query(POSTGRES_ADMIN_URL, "SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported as the reason
        return f"{POSTGRES_ADMIN_URL}: {type(exc).__name__}: {exc}"
    return None


# ---------------------------------------------------------------- wrk

@dataclass
class WrkResult:
    requests: int
    seconds: float
    created: int
    other_status: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    ids: list[str]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` and its live children (render workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, *, seconds: float, script: str = "trigger.lua", threads: int = 2, connections: int = 32,
        env: dict[str, str] | None = None, ids_dir: Path | None = None, quota: int | None = None,
        timeout_s: int = 10) -> WrkResult:
    """Run Debian's wrk with one of bench/wrk/*.lua; the script prints one BENCH_JSON line in done().

    `quota`: a fixed number of requests instead of a duration (`seconds` is then the limit): each
    thread stops after quota/threads answers and marks it with a file; then wrk gets SIGINT, its
    way of ending early.
    """
    env = {**os.environ, "BENCH_WRK_DIR": str(WRK_SCRIPTS), **(env or {})}
    if ids_dir is not None:
        env["BENCH_IDS_DIR"] = str(ids_dir)
    markers = None
    if quota is not None:
        markers = Path(tempfile.mkdtemp(prefix="wrk-", dir=VAR))
        env["BENCH_QUOTA"] = str(-(-quota // threads))
        env["BENCH_DONE_DIR"] = str(markers)
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", f"{timeout_s}s",
            "--latency", "-s", str(WRK_SCRIPTS / script), url]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if markers is not None:
            deadline = time.monotonic() + seconds
            while process.poll() is None and time.monotonic() < deadline:
                if len(list(markers.iterdir())) >= threads:
                    process.send_signal(signal.SIGINT)
                    break
                time.sleep(0.01)
        stdout, stderr = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if markers is not None:
            shutil.rmtree(markers, ignore_errors=True)
    line = next((line for line in stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({process.returncode}): {stdout}{stderr}")
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    ids: list[str] = []
    if ids_dir is not None and (ids_dir / "ids.txt").exists():
        ids = (ids_dir / "ids.txt").read_text().split()
    return WrkResult(
        requests=figures["requests"], seconds=figures["duration_us"] / 1e6, created=figures["created"],
        other_status=figures["other_status"], errors=sum(figures["errors"].values()),
        p50_ms=figures["p50_us"] / 1000, p99_ms=figures["p99_us"] / 1000, max_ms=figures["max_us"] / 1000,
        ids=ids,
    )


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("make bench needs wrk, the C HTTP load generator: sudo apt-get install wrk")


# ---------------------------------------------------------------- /proc

def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    """The child processes of `pid`, whichever of its threads started them."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        return []
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "service", "plugins", "channels"], cwd=ROOT,
                           capture_output=True, text=True).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg": os.getloadavg(),
        "commit": head.strip(),
        "uncommitted_source_files": len(dirty.splitlines()),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def fast_stack_in_venv() -> dict[str, bool]:
    """Whether uvloop and httptools are importable in Clarion's own venv (without var/bench-tools)."""
    code = "import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in ('uvloop', 'httptools')}))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                     check=True).stdout)


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]
