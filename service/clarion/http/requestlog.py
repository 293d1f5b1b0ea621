"""Request ids and the access log of `clarion serve`.

Every HTTP request gets a request id: the client's `X-Request-ID` when it sends a
usable one (1 to 128 visible ASCII characters), else a new ULID. It is returned
in the response's `X-Request-ID` and carried by every log line written while the
request is handled (`clarion.logs.log_fields`). With `logging.access_log = true`
each response also writes one line to the `clarion.access` logger when it starts
(method, path as sent, status, milliseconds so far, request id).

Two parts, because Litestar answers an exception raised by a middleware (a 401
of the authentication middleware) outside every middleware: `RequestLogMiddleware`
opens the logging context around the middlewares and the handler, and the
app-level `before_send` hook `stamp_response`, which sees every response, adds
the header and writes the access line.
"""

import logging
import re
import time
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from clarion.ids import new_id
from clarion.logs import log_fields

access_logger = logging.getLogger("clarion.access")

HEADER = b"x-request-id"
_USABLE = re.compile(rb"[\x21-\x7e]{1,128}")
_ID, _STARTED = "clarion.request_id", "clarion.started"


def request_id_of(scope: Scope) -> str:
    """The request's id, chosen once per request and kept in its scope."""
    if _ID not in scope:
        chosen = next(
            (value.decode("ascii") for name, value in scope.get("headers", ()) if name == HEADER and _USABLE.fullmatch(value)),
            None,
        )
        scope[_ID] = chosen or new_id()  # type: ignore[literal-required]
        scope[_STARTED] = time.perf_counter()  # type: ignore[literal-required]
    return scope[_ID]  # type: ignore[literal-required,no-any-return]


class RequestLogMiddleware:
    """Every line logged while the request is handled carries its `request_id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with log_fields(request_id=request_id_of(scope)):
            await self.app(scope, receive, send)


def stamp_response(access_log: bool) -> Callable[[Message, Scope], None]:
    """The `before_send` hook: `X-Request-ID` on every response; the access line when asked."""

    def stamp(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != "http":
            return
        request_id = request_id_of(scope)
        headers = message.setdefault("headers", [])  # type: ignore[typeddict-item]
        if not any(name.lower() == HEADER for name, _ in headers):
            headers.append((HEADER, request_id.encode("ascii")))
        if access_log:
            raw_path = scope.get("raw_path")  # as sent: Litestar drops a trailing "/" from scope["path"]
            path = raw_path.decode("latin-1") if raw_path else scope["path"]
            status, method = message["status"], scope["method"]
            access_logger.info(
                "%s %s %d", method, path, status,
                extra={"request_id": request_id, "method": method, "path": path, "status": status,
                       "duration_ms": round((time.perf_counter() - scope[_STARTED]) * 1000, 1),  # type: ignore[literal-required]
                       "client": (scope.get("client") or ("", 0))[0]},
            )

    return stamp
