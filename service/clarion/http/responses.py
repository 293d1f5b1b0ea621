"""`201 Created` answers with the `Location` of what they created."""

from typing import Any, TypeVar

from litestar import Request, Response
from litestar.datastructures import ResponseHeader

from clarion.http.body import decoded

T = TypeVar("T")

# `response_headers=LOCATION_HEADER` on a creating handler documents the header in the OpenAPI schema.
LOCATION_HEADER = [
    ResponseHeader(
        name="Location",
        documentation_only=True,
        required=False,
        description="on 201: the path of the created resource (relative to this server)",
    )
]


def created(content: T, location: str) -> Response[T]:
    """201 with `content`, `Location: location`."""
    return Response(content, status_code=201, headers={"Location": location})


def created_below(content: T, request: Request[Any, Any, Any], segment: str | int) -> Response[T]:
    """201 with `content`, located at `segment` below the request's path (a collection's new item)."""
    return created(content, f"{request.url.path.rstrip('/')}/{segment}/")


def creates(kind: Any, *, after: str, empty_is_default: bool = False) -> dict[str, Any]:
    """A creating route's decorator arguments: 201, its body decoded as `kind` after `after`, `Location`."""
    return {
        "status_code": 201,
        "dependencies": decoded(kind, after=after, empty_is_default=empty_is_default),
        "response_headers": LOCATION_HEADER,
    }


def options_response(request: Request[Any, Any, Any]) -> Response[None]:
    """The answer to `OPTIONS`: 204 with `Allow` listing every method of the path.

    Litestar (2.25) builds the `OPTIONS` handler with the first route registered at a path and keeps it
    when it merges later handlers of the same path into a new route, so its `Allow` misses their methods;
    this answers from the route that serves the path now."""
    template = request.scope.get("path_template")  # type: ignore[typeddict-item]
    methods = {method for route in request.app.routes if route.path_format == template for method in route.methods}
    return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))}, media_type="text/plain")
