"""`Authorization: Key <token>` authentication for everything under `/api/`.

Only paths under `/api/` are authenticated; `/health/`, `/ready/`, `/metrics`,
`/schema` and the admin UI are not (a route handler under `/api/` can opt out
with `opt={"exclude_from_auth": True}`). A missing, malformed, unknown,
inactive or expired key is 401 with a JSON `detail`. On success
`request.user` is the key's `ApiPrincipal` and `request.auth` its token.
"""

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.types import Receive, Scope, Send

from clarion.auth.services import InvalidApiKey, api_keys_of

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
