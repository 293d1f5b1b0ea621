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
