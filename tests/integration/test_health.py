from litestar.testing import AsyncTestClient


async def test_health_and_ready_need_no_key(client: AsyncTestClient) -> None:
    for path in ("/health/", "/health", "/ready/", "/ready"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json() == {"status": "ok"}


async def test_openapi_schema_is_served(client: AsyncTestClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/health" in response.text


async def test_metrics_need_no_key_and_count_triggers_and_deliveries(client: AsyncTestClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "clarion_triggers_total",
        "clarion_deliveries_total",
        "clarion_send_seconds",
        'clarion_queue_depth{kind="occurrence"} 0.0',
        'clarion_oldest_pending_seconds{kind="delivery"} 0.0',
    ):
        assert name in response.text
