"""Request input at the HTTP edge: raw bodies, path and query values.

Handlers read their bodies themselves (`read_body`) and hand them to the
service, which decodes them after its lookups (`clarion.decoding.decode_body`),
so a 404 comes before a 400. `check_path_and_query` (the app's
`before_request`, so after the guards' 401/403) refuses NUL characters in path
and query values, and answers 404 for an integer path id that cannot exist.
"""

from typing import Any

from litestar import Request
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from clarion.errors import BadRequest, NotFound, PayloadTooLarge
from clarion.schemas import MAX_ID, is_row_id


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
