"""The one list scheme of the API: bare JSON arrays, `?limit=` + `?cursor=`, RFC 8288 `Link`.

Every list endpoint answers a bare JSON array of at most `limit` items
(default 100, 1–1000; anything else is 400 naming `limit`). When more items
exist the response carries `Link: <…?cursor=…&limit=…>; rel="next"`; the
cursor is opaque (base64url of the last item's sort key) and is only valid for
the list that issued it. The link starts with `server.public_url` when it is
set, else with the URL of the request (scheme and `Host` as the client sent
them). Pagination is keyset-based: the list is ordered by one
column whose values are unique within it (a slug, a ULID, an id), so pages
stay stable while rows are added.

Use in a controller (`clarion.http.pagination`) and a service (this module)::

    from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
    from clarion.pagination import Page, PageRequest, page_of_query

    class ThingController(Controller):
        dependencies = PAGINATION            # provides `page: PageRequest` from ?limit= / ?cursor=

        @get("/", guards=[requires(Grant.X)], response_headers=LINK_HEADER)
        async def list_things(self, request: Request, org: FromPath[str], page: RequestedPage) -> Response[list[ThingOut]]:
            return list_response(await services.list_things(org, page), request)

    # service: paginate a Piccolo select on a unique column, then convert the rows
    async def list_things(org: str, page: PageRequest) -> Page[ThingOut]:
        rows = await page_of_query(Thing.select().where(Thing.org == org), page, key=Thing.slug)
        return rows.map(lambda row: ThingOut(slug=row["slug"], ...))

For newest-first lists pass `descending=True` (e.g. occurrences keyed by their
ULID `id`). For lists that are not in the database (e.g. configured channels)
sort them by a unique key and use `page_of_rows(rows, page, key=lambda r: r.name)`.
With hand-written SQL: `after = decode_cursor(page.cursor, str)` when there is a
cursor, fetch `page.limit + 1` rows after it in key order, then
`page_from_fetched(rows, page, key=lambda row: row["id"])`.
"""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from piccolo.columns import Column
from piccolo.query import Select

from clarion.errors import BadRequest
from clarion.schemas import is_row_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR_LENGTH = 1024

T = TypeVar("T")
U = TypeVar("U")
SortKey = str | int


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What the client asked for: at most `limit` items after the (opaque) `cursor`."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None = None
    limit: int = DEFAULT_LIMIT

    def map(self, convert: Callable[[T], U]) -> "Page[U]":
        return Page([convert(item) for item in self.items], self.next_cursor, self.limit)


def encode_cursor(value: SortKey) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([value])).rstrip(b"=").decode()


def decode_cursor(cursor: str, kind: type[SortKey]) -> SortKey:
    """The sort key inside `cursor`; 400 naming `cursor` if it is not one this list issued."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (value,) = msgspec.json.decode(raw, type=tuple[kind])  # type: ignore[valid-type]
        if (isinstance(value, str) and "\0" in value) or (isinstance(value, int) and not is_row_id(value)):
            raise ValueError("a key no list issues, and one the database cannot compare")
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadRequest("cursor: not a cursor of this list (take it from the Link header)") from None
    return value  # type: ignore[no-any-return]


async def page_of_query(
    query: Select, page: PageRequest, *, key: Column, descending: bool = False
) -> Page[dict[str, Any]]:
    """Run `query` (a Piccolo select, already filtered) for one page ordered by the unique column `key`.

    `key` must be among the selected columns (or the query must select all columns).
    """
    kind: type[SortKey] = int if key.value_type is int else str
    if page.cursor is not None:
        after = decode_cursor(page.cursor, kind)
        query = query.where(key < after if descending else key > after)
    rows = await query.order_by(key, ascending=not descending).limit(page.limit + 1)
    return page_from_fetched(rows, page, key=lambda row: row[key._meta.name])


def page_of_rows(rows: Sequence[T], page: PageRequest, *, key: Callable[[T], SortKey]) -> Page[T]:
    """One page of in-memory `rows`, which must be sorted ascending by the unique `key`."""
    remaining: Sequence[T] = rows
    if page.cursor is not None and rows:
        after = decode_cursor(page.cursor, type(key(rows[0])))
        remaining = [row for row in rows if key(row) > after]
    return page_from_fetched(list(remaining[: page.limit + 1]), page, key=key)


def page_from_fetched(rows: list[T], page: PageRequest, *, key: Callable[[T], SortKey]) -> Page[T]:
    """The page of `rows` fetched (in key order) with `limit + 1`: the extra row only says there is more."""
    if len(rows) <= page.limit:
        return Page(rows, None, page.limit)
    items = rows[: page.limit]
    return Page(items, encode_cursor(key(items[-1])), page.limit)
