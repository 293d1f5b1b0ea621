"""`/health/`, `/ready/` and `/metrics` of `clarion worker`, on its own port, without a web framework.

The worker has no API, so it does not load Litestar (see the import-linter
contracts): this is a minimal HTTP/1.1 server on asyncio streams that answers
GET and HEAD of three paths, one request per connection. The answers are the
ones `clarion serve` gives: `/health/` the process answers, `/ready/` the
database answers and would take a write (503 naming the problem), `/metrics`
the same Prometheus exposition (the delivery series this process records).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST

from clarion.metrics.services import exposition
from clarion.occurrences.store.queue import measure_queue
from clarion.settings import Settings
from clarion.system.services import database_problem

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 16384

Answer = tuple[int, str, bytes]  # status, content type, body
JSON = "application/json"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def _json(code: int, **body: str) -> Answer:
    return code, JSON, msgspec.json.encode(body)


async def _health() -> Answer:
    return _json(200, status="ok")


async def _ready() -> Answer:
    problem = await database_problem()
    return _json(503, detail=problem) if problem else _json(200, status="ok")


def _metrics(enabled: bool) -> Callable[[], Awaitable[Answer]]:
    async def metrics() -> Answer:
        if not enabled:
            return _json(404, detail="metrics are disabled (metrics.enabled = false)")
        await measure_queue()
        return 200, CONTENT_TYPE_LATEST, exposition()

    return metrics


class ProbeServer:
    """The worker's probe endpoints on `host:port` (port 0: a free one, see `port` once started)."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._routes: dict[str, Callable[[], Awaitable[Answer]]] = {
            "/health/": _health,
            "/ready/": _ready,
            "/metrics": _metrics(settings.metrics.enabled),
        }
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            method, path = _request_line(head)
            answer = await self._answer(method, path)
            _write(writer, answer, with_body=method != "HEAD")
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass  # the client went away or sent nothing usable: nothing to answer
        except Exception:
            logger.exception("probe server: answering a request failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> Answer:
        if not method:
            return _json(400, detail="malformed request line")
        route = self._routes.get(path.split("?", 1)[0])
        if route is None:
            return _json(404, detail=f"no such path {path!r}: the worker serves /health/, /ready/ and /metrics")
        if method not in ("GET", "HEAD"):
            return _json(405, detail=f"method {method} not allowed: use GET")
        return await route()


def _request_line(head: bytes) -> tuple[str, str]:
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "", ""
    return parts[0], parts[1]


def _write(writer: asyncio.StreamWriter, answer: Answer, *, with_body: bool) -> None:
    status, content_type, body = answer
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + (body if with_body else b""))


@contextlib.asynccontextmanager
async def serving_probes(settings: Settings, host: str, port: int) -> AsyncIterator[ProbeServer | None]:
    """Serve the probes while inside (None when `worker.port` is -1: switched off)."""
    if port < 0:
        yield None
        return
    server = ProbeServer(settings, host, port)
    try:
        await server.start()
    except OSError as exc:
        raise OSError(f"worker probes: cannot listen on {host}:{port}: {exc.strerror} (worker.port, or --port)") from exc
    logger.info("worker probes on http://%s:%d (/health/, /ready/, /metrics)", host, server.port)
    try:
        yield server
    finally:
        await server.close()
