"""Liveness and readiness probes."""

from litestar import Controller, get
from litestar.exceptions import HTTPException

from clarion.schemas import Response
from clarion.system.services import database_answers


class HealthStatus(Response):
    status: str


class HealthController(Controller):
    path = "/"
    tags = ["operations"]

    @get("/health/", operation_id="health", sync_to_thread=False)
    def health(self) -> HealthStatus:
        """The process answers."""
        return HealthStatus(status="ok")

    @get("/ready/", operation_id="ready")
    async def ready(self) -> HealthStatus:
        """The database answers."""
        if not await database_answers():
            raise HTTPException(status_code=503, detail="database unreachable")
        return HealthStatus(status="ok")
