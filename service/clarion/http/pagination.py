"""The HTTP side of the list scheme (`clarion.pagination`): `?limit=` / `?cursor=` in, `Link` out."""

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter, SkipValidation

from clarion.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, Page, PageRequest

T = TypeVar("T")


def provide_page_request(
    limit: Annotated[
        int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT, description=f"items per page, 1–{MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        QueryParameter(
            name="cursor",
            max_length=MAX_CURSOR_LENGTH,
            description='opaque; taken from the `Link: <…>; rel="next"` header of the previous page',
        ),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor or None)


# `dependencies = PAGINATION` on a controller (or handler) gives handlers a `page: RequestedPage`.
PAGINATION = {"page": Provide(provide_page_request, sync_to_thread=False)}
RequestedPage = NamedDependency[SkipValidation[PageRequest]]
# `response_headers=LINK_HEADER` on a list handler documents the `Link` header in the OpenAPI schema.
LINK_HEADER = [
    ResponseHeader(
        name="Link",
        documentation_only=True,
        description='RFC 8288 `<URL of the next page>; rel="next"`, present only when more items exist',
    )
]


def next_link(request: Request[Any, Any, Any], page: Page[Any]) -> str | None:
    """The RFC 8288 `Link` header value pointing at the next page, or None on the last page."""
    if page.next_cursor is None:
        return None
    query = [(name, value) for name, value in request.query_params.multi_items() if name not in ("cursor", "limit")]
    query += [("cursor", page.next_cursor), ("limit", str(page.limit))]
    raw_path = request.scope.get("raw_path")  # as the client sent it (Litestar strips a trailing slash)
    path = raw_path.decode("latin-1") if raw_path else ""
    if public_url := _public_url(request):  # never the Host header the client chose
        return f'<{public_url.rstrip("/")}{path}?{urlencode(query)}>; rel="next"'
    url = request.url.with_replacements(path=path, query=urlencode(query))
    return f'<{url}>; rel="next"'


def _public_url(request: Request[Any, Any, Any]) -> str | None:
    """`server.public_url` of the running app, if set."""
    runtime = request.app.state.get("runtime")
    return runtime.settings.server.public_url if runtime is not None else None


def list_response(page: Page[T], request: Request[Any, Any, Any]) -> Response[list[T]]:
    """The page's items as a bare JSON array, with the `Link` header when there is a next page."""
    link = next_link(request, page)
    return Response(page.items, headers={"Link": link} if link else None)
