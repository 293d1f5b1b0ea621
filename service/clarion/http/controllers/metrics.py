"""`GET /metrics`: Prometheus text exposition, no key needed."""

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from prometheus_client import CONTENT_TYPE_LATEST

from clarion.http.dependencies import RuntimeDependency
from clarion.metrics.services import exposition
from clarion.occurrences.store.queue import measure_queue


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]
    include_in_schema = False

    @get("/", operation_id="metrics")
    async def metrics(self, runtime: RuntimeDependency) -> Response[bytes]:
        """Counters of triggers and deliveries, send latency, queue depth and age."""
        if not runtime.settings.metrics.enabled:
            raise NotFoundException("metrics are disabled (metrics.enabled = false)")
        await measure_queue()
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
