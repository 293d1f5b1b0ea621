"""Response bodies about the calling API key."""

from clarion.schemas import Response


class PingResponse(Response):
    """`GET /api/system/ping/`: the calling key works; `token` is the key's name (as the source system answers)."""

    token: str
