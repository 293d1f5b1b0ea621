"""Response bodies about the calling API key."""

from typing import Annotated

import msgspec
from msgspec import Meta

from clarion.schemas import Response


class PingResponse(Response):
    """`GET /api/system/ping/`: the calling key works; `token` is the key's name (as the source system answers)."""

    token: str


class KeyRateLimit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A key's own rate limit (in the catalog and the key API); `per_minute = 0`: the key is not limited.

    A value inside request bodies (`KeyIn`, `CatalogApiKey`), not a request body itself."""

    per_minute: Annotated[int, Meta(ge=0, le=1_000_000)]
    burst: Annotated[int, Meta(ge=1, le=1_000_000)]

    def columns(self) -> dict[str, int]:
        return {"rate_per_minute": self.per_minute, "rate_burst": self.burst}


def key_rate_limit(per_minute: int | None, burst: int | None) -> KeyRateLimit | None:
    """The override stored on a key row (None: the key follows `[rate_limit]`)."""
    if per_minute is None or burst is None:
        return None
    return KeyRateLimit(per_minute=per_minute, burst=burst)
