"""The delivery test bed: real SMTP and HTTP sinks, a catalog builder, the app with its dispatcher.

Import what a test module needs: `from delivery_support import bed, mail_sink, hook_sink, ...`
(fixtures are picked up from the test module's namespace).

* `MailSink`: an aiosmtpd server on 127.0.0.1 that records every message with
  the time it accepted it; it can be stopped and started again on the same
  port, and made slow (`delay_s`) to keep messages in flight.
* `HookSink`: an aiohttp server on 127.0.0.1 recording every request; answers
  can be scripted per path (`script`), e.g. 503 with Retry-After, then 200.
* `Bed`: the app (lifespan and embedded dispatcher included) in the test's own
  loop, an HTTP client on it, and a full-access key; triggers go through the
  real trigger endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import inspect
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from events_api_support import app_running
from litestar import Litestar

from clarion.http.app import create_app
from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import decode_catalog
from clarion.occurrences.tables import Delivery, Occurrence
from clarion.process import Runtime
from clarion.settings import Settings
from clarion_test_support import CACHE_LIFETIME_S, REPO, clarion_command, free_port

CHANNEL_KINDS = {"email": frozenset({"email"}), "webhook": frozenset({"url"}), "spare": frozenset({"url"})}
ORG, PROJECT, APP = "acme", "web", "shop"
APP_PATH = f"/api/o/{ORG}/p/{PROJECT}/a/{APP}"
FINAL = ("delivered", "failed", "skipped")


def delivery_config(
    smtp_port: int, *, extra: str = "", embedded: bool = True, lease_s: float = 5, email_concurrency: int = 8
) -> str:
    """A configuration with fast retries, the email channel on `smtp_port` and a webhook channel
    that may call 127.0.0.1 (plus `extra` TOML appended); the API's caches as short as BASE_CONFIG's."""
    return f"""
[cache]
api_keys_s = {CACHE_LIFETIME_S}
directory_s = {CACHE_LIFETIME_S}

[dispatch]
embedded = {"true" if embedded else "false"}
backoff_base_s = 0.05
backoff_max_s = 0.5
lease_s = {lease_s}
poll_interval_s = 0.05

[channels.email]
type = "email"
enabled = true
max_concurrency = {email_concurrency}
[channels.email.options]
host = "127.0.0.1"
port = {smtp_port}
sender = "Clarion <clarion@localhost>"
timeout_s = 5

[channels.webhook]
type = "webhook"
enabled = true
max_concurrency = 16
[channels.webhook.options]
allow_private_targets = true
timeout_s = 5
{extra}"""


# --- sinks ------------------------------------------------------------------------------


@dataclass
class Mail:
    rcpt_tos: list[str]
    message: EmailMessage
    at: float

    @property
    def delivery_id(self) -> str:
        return str(self.message["Clarion-Delivery-Id"])


class _MailHandler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.delay_s:
            await asyncio.sleep(self.sink.delay_s)
        message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        self.sink.record(Mail(list(envelope.rcpt_tos), message, time.monotonic()))  # type: ignore[arg-type]
        return "250 2.0.0 queued"


class MailSink:
    """An SMTP server on 127.0.0.1:`port` that keeps what it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Mail] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def record(self, mail: Mail) -> None:
        with self._lock:
            self.received.append(mail)

    def start(self) -> None:
        self._controller = Controller(_MailHandler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def to(self, address: str) -> list[Mail]:
        return [mail for mail in self.received if address in mail.rcpt_tos]

    def counts(self) -> Counter[str]:
        """Delivery id → how many times it arrived."""
        return Counter(mail.delivery_id for mail in self.received)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        await wait_until(lambda: len(self.received) >= count, timeout, f"{count} mails (got {len(self.received)})")
        return list(self.received)


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class HookSink:
    """An HTTP server on 127.0.0.1 recording each POST; `script[path]` lists (status, headers) answers
    given in turn (the last one repeats); anything unscripted answers 200."""

    received: list[Hook] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    async def _answer(self, request: web.Request) -> web.Response:
        self.received.append(Hook(request.path, dict(request.headers), await request.read(), time.monotonic()))
        answers = self.script.get(request.path)
        if answers:
            status, headers = answers[0] if len(answers) == 1 else answers.pop(0)
            return web.Response(status=status, headers=headers)
        return web.Response(text="ok")

    def at(self, path: str) -> list[Hook]:
        return [hook for hook in self.received if hook.path == path]

    def counts(self) -> Counter[str]:
        """webhook-id (the delivery id) → how many times it arrived."""
        return Counter(hook.headers["webhook-id"] for hook in self.received)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Hook]:
        await wait_until(lambda: len(self.received) >= count, timeout, f"{count} webhooks (got {len(self.received)})")
        return list(self.received)


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (a function, or a coroutine function) until it is true."""
    deadline = time.monotonic() + timeout
    while not ((await result) if inspect.isawaitable(result := predicate()) else result):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    """A running SMTP sink."""
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def hook_sink() -> AsyncIterator[HookSink]:
    """A running webhook sink."""
    sink = HookSink()
    await sink.start()
    yield sink
    await sink.close()


# --- the catalog ------------------------------------------------------------------------


def user(username: str, *, email_address: str | None = None, hook: str | None = None, **fields: Any) -> dict[str, Any]:
    """A catalog user with an `email` address and, if given, a `hook` URL address."""
    addresses = [{"name": "email", "value": email_address or f"{username}@example.com"}]
    if hook:
        addresses.append({"name": "hook", "value": hook})
    return {"username": username, "email": email_address or f"{username}@example.com",
            "first_name": username.capitalize(), "addresses": addresses, **fields}


def member(username: str, channel: str = "email") -> dict[str, str]:
    return {"user": username, "address": "hook" if channel in ("webhook", "spare") else "email", "channel": channel}


def catalog(
    users: list[dict[str, Any]],
    members: list[dict[str, str]],
    events: list[dict[str, Any]],
    *,
    project_flags: dict[str, bool] | None = None,
    app_flags: dict[str, bool] | None = None,
    applications: list[dict[str, Any]] | None = None,
    api_keys: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One organization/project/application with a list "ops" (`members`) and `events`
    (plus other `applications`), and a full-access key "all" (plus `api_keys`)."""
    return {
        "organizations": [
            {
                "slug": ORG,
                "name": "Acme",
                "users": users,
                "projects": [
                    {
                        "slug": PROJECT,
                        "name": "Web",
                        **(project_flags or {}),
                        "distribution_lists": [{"name": "ops", "members": members}],
                        "applications": [
                            {"slug": APP, "name": "Shop", **(app_flags or {}), "events": events},
                            *(applications or []),
                        ],
                    }
                ],
                "api_keys": [{"name": "all", "grants": ["full_access"]}, *(api_keys or [])],
            }
        ]
    }


EMAIL_TEMPLATE = {"subject": "Order {{ order_id }} paid", "text": "Hi {{ recipient.first_name }}, order {{ order_id }}."}


def event(slug: str = "order-paid", notifications: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    """An event with one notification "tell ops" to the list "ops" (email template) unless given."""
    if notifications is None:
        notifications = [notification()]
    return {"slug": slug, "name": slug.replace("-", " ").capitalize(), "notifications": notifications, **fields}


def notification(name: str = "tell ops", **fields: Any) -> dict[str, Any]:
    fields.setdefault("distribution_list", "ops")
    fields.setdefault("templates", {"email": EMAIL_TEMPLATE})
    return {"name": name, **fields}


# --- the bed ----------------------------------------------------------------------------


@dataclass
class Bed:
    client: httpx.AsyncClient
    app: Litestar
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    """Key name → token of the keys the applied catalogs created."""

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        """Authenticating as the full-access key "all"."""
        return self.key("all")

    def key(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Key {self.tokens[name]}"}

    async def apply(self, document: dict[str, Any]) -> None:
        created = (await apply_catalog(decode_catalog(document), CHANNEL_KINDS)).api_keys
        self.tokens.update({name.split("/", 1)[1]: token for name, token in created.items()})

    async def trigger(self, event_slug: str = "order-paid", body: dict[str, Any] | None = None, **params: str) -> str:
        response = await self.client.post(
            f"{APP_PATH}/e/{event_slug}/trigger/", json=body or {}, headers=self.headers, params=params
        )
        assert response.status_code == 201, response.text
        return str(response.json()["occurrence"])

    async def occurrence(self, occurrence_id: str) -> dict[str, Any]:
        row = await Occurrence.select().where(Occurrence.id == occurrence_id).first()
        assert row is not None
        return row

    async def deliveries(self, occurrence_id: str) -> list[dict[str, Any]]:
        return await Delivery.select().where(Delivery.occurrence == occurrence_id).order_by(Delivery.address)

    async def settled(self, occurrence_id: str, timeout: float = 10.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Wait until the occurrence is completed (or failed); its row and its deliveries."""
        deadline = time.monotonic() + timeout
        while True:
            row = await self.occurrence(occurrence_id)
            if row["status"] in ("completed", "failed"):
                return row, await self.deliveries(occurrence_id)
            if time.monotonic() > deadline:
                raise AssertionError(f"occurrence {occurrence_id} still {row['status']}: "
                                     f"{await self.deliveries(occurrence_id)}")
            await asyncio.sleep(0.02)


@pytest.fixture
def bed_config(mail_sink: MailSink) -> str:
    """The configuration text of `bed` (override in a module for other settings)."""
    return delivery_config(mail_sink.port)


@contextlib.asynccontextmanager
async def running_bed(settings: Settings) -> AsyncIterator[Bed]:
    """The app on `settings` (lifespan and, unless disabled, its dispatcher) serving in this loop."""
    app = create_app(settings)
    async with app_running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as client:
            yield Bed(client, app, settings)


@pytest.fixture
async def bed(make_settings: Callable[..., Settings], bed_config: str) -> AsyncIterator[Bed]:
    """The app with its embedded dispatcher on `bed_config`; apply a catalog with `bed.apply`."""
    async with running_bed(make_settings(bed_config)) as test_bed:
        yield test_bed


def by_address(deliveries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["address"]: row for row in deliveries}


# --- worker processes ---------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """A `clarion worker` subprocess; its stderr goes to `log`."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: a graceful stop exits 0."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


@contextlib.asynccontextmanager
async def worker_processes(config: str, database_url: str, directory: Path, count: int = 1) -> AsyncIterator[list[WorkerProcess]]:
    """Start `count` workers on `config` (TOML text) and `database_url`; killed on the way out if still running."""
    config_path = directory / "worker.toml"
    config_path.write_text(config)
    environment = {**os.environ, "CLARION_CONFIG": str(config_path), "CLARION_DATABASE_URL": database_url}
    workers = []
    try:
        for _ in range(count):
            workers.append(await start_worker(environment, directory))
        yield workers
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.kill()
            await worker.process.wait()


async def start_worker(environment: dict[str, str], directory: Path, probe_port: int = 0) -> WorkerProcess:
    """`clarion worker`, its /health/, /ready/, /metrics on `probe_port` (0: any free port)."""
    log = directory / f"worker-{len(list(directory.glob('worker-*.log')))}.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *clarion_command("worker", "--port", str(probe_port)), env=environment, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr, cwd=REPO,
        )
    return WorkerProcess(process, log)


def stopped_summary(output: str) -> dict[str, int]:
    """The counters of the dispatcher's "stopped:" log line (expanded=, delivered=, ...)."""
    line = next(line for line in output.splitlines() if " stopped: " in line)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.split(" stopped: ", 1)[1])}
