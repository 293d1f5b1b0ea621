"""Liveness and readiness probes."""

from litestar import Controller, get

from clarion.errors import ServiceUnavailable
from clarion.schemas import Response
from clarion.system.services import database_problem


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
        """The database answers and would take a write (503 naming what is wrong otherwise)."""
        problem = await database_problem()
        if problem:
            raise ServiceUnavailable(problem)
        return HealthStatus(status="ok")
