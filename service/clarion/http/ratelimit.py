"""Rate limiting at the HTTP edge: every authenticated `/api/` request counts against its key.

Runs after the authentication middleware (so an unknown key is a 401, never a
429) and before routing and the handler, so a refused request reads and stores
nothing. A limited key's responses carry the `RateLimit-*` headers; a refusal
is a 429 with `Retry-After`. The limiter (`clarion.ratelimit`) lives on
`app.state.rate_limiter`, opened and closed by `rate_limit_lifespan`.
"""

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from clarion.auth.services import ApiPrincipal
from clarion.http.problems import PROBLEM_JSON, problem_body
from clarion.ratelimit import Decision, RateLimiter, StoreUnavailable
from clarion.settings import RateLimitSettings


def rate_limit_lifespan(settings: RateLimitSettings):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        limiter = RateLimiter(settings)
        app.state.rate_limiter = limiter
        try:
            yield
        finally:
            await limiter.close()

    return lifespan


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user") if scope["type"] == "http" else None
        if not isinstance(principal, ApiPrincipal):
            await self.app(scope, receive, send)
            return
        limiter: RateLimiter = scope["litestar_app"].state.rate_limiter
        try:
            decision = await limiter.check(principal.key_id, principal.rate_limit)
        except StoreUnavailable as exc:
            await _refuse(send, 503, f"rate limit store unavailable (rate_limit.fail_closed = true): {exc}",
                          [("Retry-After", "10")])
            return
        if decision is None:
            await self.app(scope, receive, send)
        elif not decision.allowed:
            detail = (
                f"rate limit exceeded for API key {principal.name!r}: {decision.limit.per_minute} requests a minute,"
                f" bursts of {decision.limit.burst}; retry in {decision.retry_after_s} s"
            )
            await _refuse(send, 429, detail, decision.headers())
        else:
            await self.app(scope, receive, _with_headers(send, decision))


def _with_headers(send: Send, decision: Decision) -> Send:
    extra = [(name.lower().encode(), value.encode()) for name, value in decision.headers()]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}  # type: ignore[typeddict-item]
        await send(message)

    return send_with_headers


async def _refuse(send: Send, status: int, detail: str, headers: list[tuple[str, str]]) -> None:
    """The problem (RFC 9457, like every other error) answering the request before it reaches Litestar."""
    body = problem_body(status, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
