"""`Authorization: Key <token>` authentication for everything under `/api/`.

Only paths under `/api/` are authenticated; `/health/`, `/ready/`, `/metrics`,
`/schema` and the admin UI are not (a route handler under `/api/` can opt out
with `opt={"exclude_from_auth": True}`). A missing, malformed, unknown,
inactive or expired key is 401 with a JSON `detail`. On success
`request.user` is the key's `ApiPrincipal` and `request.auth` its token.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.types import Receive, Scope, Send

from clarion.auth.services import SHUTDOWN_FLUSH_TIMEOUT_S, ApiKeys, InvalidApiKey

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
SCHEME = "key"

# OpenAPI: the scheme (in the app's `components`) and the requirement (on API controllers' `security`).
OPENAPI_COMPONENTS = Components(
    security_schemes={
        "apiKey": SecurityScheme(
            type="apiKey",
            name="Authorization",
            security_scheme_in="header",
            description="`Key <token>`",
        )
    }
)
API_KEY_REQUIRED: list[SecurityRequirement] = [{"apiKey": []}]


class ApiKeyAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await super().__call__(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            raise InvalidApiKey("missing Authorization header: send 'Authorization: Key <token>'")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != SCHEME or not token or " " in token:
            raise InvalidApiKey("malformed Authorization header: expected 'Key <token>'")
        principal = await api_keys_of(connection.app).authenticate(token)
        return AuthenticationResult(user=principal, auth=token)


def api_keys_of(app: Litestar) -> ApiKeys:
    return app.state.api_keys  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def api_keys_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Serve `app.state.api_keys`; record last use every few seconds and once more on shutdown.

    Register it after the lifespan that starts the runtime (the database engine and
    the settings it reads `cache.api_keys_s` from), so the final flush runs before
    the engine closes.
    """
    keys = ApiKeys(ttl_s=app.state.runtime.settings.cache.api_keys_s)
    app.state.api_keys = keys
    flusher = asyncio.create_task(keys.flush_periodically(), name="clarion-api-key-last-used")
    try:
        yield
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        try:
            await asyncio.wait_for(keys.flush_last_used(), SHUTDOWN_FLUSH_TIMEOUT_S)
        except Exception:  # including TimeoutError: never hold up the shutdown for a last-used time
            logger.warning("recording API keys' last use at shutdown failed", exc_info=True)
