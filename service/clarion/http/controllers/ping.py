"""`GET /api/system/ping/`: is this key good? (`system:ping`)"""

from typing import Any

from litestar import Controller, Request, get

from clarion.auth.grants import Grant
from clarion.auth.schemas import PingResponse
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.guards import principal_of, requires


class PingController(Controller):
    path = "/api/system/ping"
    tags = ["system"]
    security = API_KEY_REQUIRED

    @get("/", operation_id="ping", guards=[requires(Grant.SYSTEM_PING)], sync_to_thread=False)
    def ping(self, request: Request[Any, Any, Any]) -> PingResponse:
        """Answers with the calling key's name."""
        return PingResponse(token=principal_of(request).name)
