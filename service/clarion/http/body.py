"""Reading request bodies the handler decodes itself (so that lookups, and their 404, come first)."""

from typing import Any

from litestar import Request
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from clarion.errors import PayloadTooLarge


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The raw body; 413 naming the limit when it is larger than `server.max_body_bytes`."""
    try:
        return await request.body()
    except RequestEntityTooLarge:
        limit = request.route_handler.resolve_request_max_body_size()
        raise PayloadTooLarge(f"body: larger than the {limit} bytes allowed") from None
