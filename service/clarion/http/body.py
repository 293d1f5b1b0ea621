"""Request input at the HTTP edge: bodies, path and query values.

A handler that takes a body names it `payload` and declares its decoder on the
route: `dependencies=decoded(TriggerRequest, after="event")`. The decoder is a
dependency of the path's lookup (`clarion.http.paths`), so the order of checks
is 401/403 (guards), 404 (the lookup of every level and item the path names),
413/400 (the body, by `clarion.decoding`, the one JSON body decoder); the
handler gets the decoded Struct. `clarion.http.openapi` documents the same
type as the operation's request body.

`check_path_and_query` (the app's `before_request`, so after the guards'
401/403) refuses NUL characters in path and query values, and answers 404 for
an integer path id that cannot exist.
"""

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import SkipValidation

from clarion.decoding import decode_body, decode_fields
from clarion.errors import BadRequest, NotFound, PayloadTooLarge
from clarion.http.paths import PATH_DEPENDENCIES
from clarion.schemas import MAX_ID, is_row_id

T = TypeVar("T")
# A handler's `payload: Decoded[TriggerRequest]`, given by the route's `decoded(...)` dependency.
Decoded = NamedDependency[SkipValidation[T]]


async def check_path_and_query(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request`: 400 for a NUL in a path or query value, 404 for an id that cannot exist."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\0" in value:
            raise BadRequest(f"{name}: contains a NUL character (\\u0000)")
        if isinstance(value, int) and not is_row_id(value):
            raise NotFound(f"{name}: no such id ({value} is outside 1–{MAX_ID})")
    for name, value in request.query_params.multi_items():
        if "\0" in name or "\0" in value:
            raise BadRequest(f"{name.replace(chr(0), '')}: contains a NUL character (\\u0000)")


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The raw body; 413 naming the limit when it is larger than `server.max_body_bytes`."""
    try:
        return await request.body()
    except RequestEntityTooLarge:
        limit = request.route_handler.resolve_request_max_body_size()
        raise PayloadTooLarge(f"body: larger than the {limit} bytes allowed") from None


class BodyDecoder:
    """Reads the request body and decodes it as `kind` (`decode`); `required` is for the schema."""

    def __init__(self, kind: Any, decode: Callable[[bytes], Any], *, required: bool) -> None:
        self.kind = kind
        self.decode = decode
        self.required = required

    async def read(self, request: Request[Any, Any, Any]) -> Any:
        return self.decode(await read_body(request))


def decoded(
    kind: Any,
    *,
    after: str,
    decode: Callable[[bytes], Any] | None = None,
    empty_is_default: bool = False,
    required: bool | None = None,
) -> dict[str, Provide]:
    """The route's `payload` dependency: the body as `kind`, decoded once the path dependency `after` has
    found what the path names (`clarion.http.paths`: a level, or an item such as `user`).

    `empty_is_default`: an empty body means `{}` (every field at its default); `decode` replaces
    the decoding altogether; `required` documents whether a body must be sent (by default: unless
    an empty one means `{}`).
    """
    if after not in PATH_DEPENDENCIES:  # else Litestar would take `after` for a query parameter
        raise ValueError(f"decoded(after={after!r}): not one of {sorted(PATH_DEPENDENCIES)}")
    if decode is None:
        decode = (lambda body: decode_fields(body, kind)) if empty_is_default else (lambda body: decode_body(body, kind))
    decoder = BodyDecoder(kind, decode, required=not empty_is_default if required is None else required)

    async def payload(request: Request[Any, Any, Any], **found: Any) -> Any:
        return await decoder.read(request)

    # Litestar resolves a dependency's own dependencies by parameter name: naming `after` makes the
    # body wait for that lookup (404 before 400).
    found = NamedDependency[SkipValidation[Any]]
    payload.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request[Any, Any, Any]),
            inspect.Parameter(after, inspect.Parameter.KEYWORD_ONLY, annotation=found),
        ],
        return_annotation=Any,
    )
    payload.__annotations__ = {"request": Request[Any, Any, Any], after: found, "return": Any}
    payload.decoder = decoder  # type: ignore[attr-defined]  # read by clarion.http.openapi
    return {"payload": Provide(payload)}
