"""Real SMTP and HTTP sinks on 127.0.0.1 for the channel plugin tests."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "clarion"
SMTP_PASSWORD = "s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ReceivedMail:
    peer: tuple[str, int]
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class RecordingHandler:
    """Keeps every message; `rcpt_reply` / `data_reply` make the server refuse instead."""

    received: list[ReceivedMail] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None
    servers: list[SMTP] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if server not in self.servers:
                self.servers.append(server)
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        mail = ReceivedMail(tuple(session.peer), envelope.mail_from, list(envelope.rcpt_tos), message)
        with self.lock:
            self.received.append(mail)
        return "250 2.0.0 queued"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    accepted = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=accepted, handled=False)


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that records what it receives."""

    def __init__(self, **smtp_parameters: Any) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="sink.clarion.test",
            **smtp_parameters,
        )
        self.running = False

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.controller.stop()

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    @property
    def connection_count(self) -> int:
        """How many client connections carried at least one message."""
        return len({mail.peer for mail in self.received})

    def drop_connections(self) -> None:
        """Close every client connection from the server side, as an idle timeout would."""

        async def close_all() -> None:
            for server in self.handler.servers:
                if server.transport is not None:
                    server.transport.close()

        asyncio.run_coroutine_threadsafe(close_all(), self.controller.loop).result(timeout=5)


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]


class WebhookSink:
    """An aiohttp server on 127.0.0.1 that records every request.

    `/status/{code}` answers with that status; `?retry_after=` sets Retry-After
    and `?location=` sets Location. `/slow` answers only once the test is over;
    `/slow-body` sends 200 at once but finishes its body only then.
    Anything else answers 200 with an `x-request-id`.
    """

    def __init__(self) -> None:
        self.received: list[ReceivedWebhook] = []
        self.release_slow = asyncio.Event()
        app = web.Application()
        app.router.add_post("/status/{code}", self.answer_status)
        app.router.add_post("/slow", self.answer_slowly)
        app.router.add_post("/slow-body", self.answer_body_slowly)
        app.router.add_post("/{tail:.*}", self.answer_ok)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        self.release_slow.set()
        await self.server.close()

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def connection_count(self) -> int:
        return len({request.peer for request in self.received})

    async def record(self, request: web.Request) -> None:
        assert request.transport is not None
        peer = tuple(request.transport.get_extra_info("peername")[:2])
        self.received.append(ReceivedWebhook(request.path, dict(request.headers), await request.read(), peer))

    async def answer_ok(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.Response(text="ok", headers={"x-request-id": f"req-{len(self.received)}"})

    async def answer_status(self, request: web.Request) -> web.Response:
        await self.record(request)
        headers = {}
        if "retry_after" in request.query:
            headers["retry-after"] = request.query["retry_after"]
        if "location" in request.query:
            headers["location"] = request.query["location"]
        return web.Response(status=int(request.match_info["code"]), headers=headers)

    async def answer_slowly(self, request: web.Request) -> web.Response:
        await self.record(request)
        await self.release_slow.wait()
        return web.Response()

    async def answer_body_slowly(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        response = web.StreamResponse(status=200)
        response.content_length = 10
        await response.prepare(request)
        await response.write(b"ok")
        await self.release_slow.wait()
        return response


@dataclass
class NtfyMessage:
    topic: str
    title: str | None
    message: str | None
    authorization: str | None


class NtfySink:
    """An aiohttp server on 127.0.0.1 speaking ntfy's publish protocol (what `ntfy://host/topic` sends).

    `POST /` takes a JSON message `{"topic", "message", "title", …}` and answers like ntfy.sh:
    `{"id", "time", "event": "message", "topic", …}`. With `password` set, a request without
    Basic auth for `user:password` is refused as ntfy refuses it: 403 and `{"code": 40301, "error"}`.
    """

    def __init__(self, user: str = "clarion", password: str | None = None) -> None:
        self.received: list[NtfyMessage] = []
        self.user = user
        self.password = password
        app = web.Application()
        app.router.add_post("/", self.publish)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    async def publish(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("authorization")
        if self.password is not None:
            expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if authorization != expected:
                return web.json_response({"code": 40301, "http": 403, "error": "forbidden"}, status=403)
        payload = await request.json()
        self.received.append(
            NtfyMessage(payload["topic"], payload.get("title"), payload.get("message"), authorization)
        )
        return web.json_response(
            {"id": f"n{len(self.received)}", "time": 1, "event": "message", "topic": payload["topic"]}
        )
