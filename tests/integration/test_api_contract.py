"""The API contract (issue 11): the OpenAPI schema documents what the API does — request bodies,
every status with the shape actually sent, `Location` on a 201 — and the answers match it."""

import re
from typing import Any

import pytest
from events_api_support import SHOP, Api, api, api_settings  # noqa: F401

from clarion_test_support import problem

ORG = "/api/o/acme"
WRITES = ("post", "put", "patch")
# Writes that take no body: the path says everything.
BODILESS_WRITES = {"unregisterUser"}


def _operations(schema: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (method, path, operation)."""
    return {
        operation["operationId"]: (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


async def _schema(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_every_write_documents_its_request_body(api: Api) -> None:
    schema = await _schema(api)
    without_body = {
        operation_id
        for operation_id, (method, _, operation) in _operations(schema).items()
        if method in WRITES and "requestBody" not in operation
    }
    assert without_body == BODILESS_WRITES
    trigger = _operations(schema)["triggerEvent"][2]["requestBody"]
    assert trigger["required"] is False  # an empty body is `{}`
    assert trigger["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TriggerRequest"}
    request = schema["components"]["schemas"]["TriggerRequest"]
    assert set(request["properties"]) == {"context", "options"} and request["additionalProperties"] is False
    members = _operations(schema)["addDistributionListMembers"][2]["requestBody"]["content"]["application/json"]
    assert members["schema"]["type"] == "array"


async def test_every_error_is_documented_as_a_problem(api: Api) -> None:
    schema = await _schema(api)
    problem_schema = schema["components"]["schemas"]["Problem"]
    assert set(problem_schema["required"]) == {"type", "title", "status", "detail"}
    for operation_id, (_, path, operation) in _operations(schema).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (operation_id, status)
        if path.startswith("/api/"):
            assert {"401", "403", "500"} <= set(operation["responses"]), operation_id
    statuses = {name: set(op["responses"]) for name, (_, _, op) in _operations(schema).items()}
    assert {"201", "400", "401", "403", "404", "409", "413", "422"} <= statuses["triggerEvent"]
    assert {"200", "400", "401", "403", "404", "503"} <= statuses["listEvents"]


async def test_creating_operations_document_201_and_location(api: Api) -> None:
    operations = _operations(await _schema(api))
    for operation_id in (
        "createProject", "createApplication", "createEvent", "createNotification", "createUser",
        "createAssignment", "createApiKey", "createDistributionList", "triggerEvent",
    ):
        assert "Location" in operations[operation_id][2]["responses"]["201"]["headers"], operation_id
    for operation_id in ("putEventTemplate", "putNotificationTemplate"):
        responses = operations[operation_id][2]["responses"]
        assert "Location" in responses["201"]["headers"] and "Location" not in responses["200"].get("headers", {})
        assert responses["201"]["content"] == responses["200"]["content"]


async def _created(api: Api, path: str, body: Any, method: str = "POST") -> tuple[str, dict[str, Any]]:
    response = await api.client.request(method, path, json=body, headers=api.key("org-all"))
    assert response.status_code == 201, response.text
    return response.headers["location"], response.json()


async def test_each_201_locates_what_it_created(api: Api) -> None:
    """Every `Location` is a path that reads back (or, for keys and assignments, deletes) what was created."""
    for path, body, key in [
        (f"{ORG}/p/", {"slug": "ops", "name": "Ops"}, "slug"),
        (f"{ORG}/p/ops/a/", {"slug": "pager", "name": "Pager"}, "slug"),
        (f"{ORG}/p/ops/a/pager/e/", {"slug": "down", "name": "Down"}, "slug"),
        (f"{ORG}/u/", {"username": "ann", "email": "ann@example.com"}, "username"),
        (f"{ORG}/p/ops/d/", {"name": "oncall"}, "id"),
        (f"{ORG}/p/ops/a/pager/e/down/n/", {"name": "page"}, "id"),
    ]:
        location, created = await _created(api, path, body)
        assert location == f"{path}{created[key]}/"
        read = await api.get(location)
        assert (read.status_code, read.json()[key]) == (200, created[key]), location
    address = await api.post(f"{ORG}/u/ann/address/", json={"name": "work", "value": "ann@example.com"})
    assert address.status_code == 201 and "location" not in address.headers  # an address has no URL of its own
    location, assignment = await _created(api, f"{ORG}/u/ann/assignments/", {"address": "work", "channel": "email"})
    assert location == f"{ORG}/u/ann/assignments/{assignment['id']}/"
    location, key = await _created(api, f"{ORG}/keys/", {"name": "robot", "grants": ["event:trigger"]})
    assert location == f"{ORG}/keys/{key['id']}/"
    assert (await api.client.delete(location, headers=api.key("org-all"))).status_code == 204


async def test_a_template_put_locates_the_template_it_created_and_not_one_it_replaced(api: Api) -> None:
    path = f"{SHOP}/e/order-paid/templates/email/"
    location, template = await _created(api, path, {"subject": "Paid", "text": "Order {{ order_id }}"}, "PUT")
    assert location == path and template["subject"] == "Paid"
    again = await api.client.put(path, json={"subject": "Paid!", "text": "x"}, headers=api.key("org-all"))
    assert again.status_code == 200 and "location" not in again.headers and again.json()["subject"] == "Paid!"


async def test_a_trigger_locates_its_occurrence(api: Api) -> None:
    response = await api.post(f"{SHOP}/e/order-paid/trigger/", json={"context": {"order_id": "A-1"}})
    assert response.status_code == 201
    occurrence = response.json()["occurrence"]
    assert response.headers["location"] == f"{SHOP}/occurrences/{occurrence}/"
    read = await api.get(response.headers["location"])
    assert (read.status_code, read.json()["id"], read.json()["context"]) == (200, occurrence, {"order_id": "A-1"})
    replayed = await api.post(
        f"{SHOP}/e/order-paid/trigger/", json={"context": {"order_id": "A-2"}}, headers={"Idempotency-Key": "k1"}
    )
    first = await api.post(
        f"{SHOP}/e/order-paid/trigger/", json={"context": {"order_id": "A-2"}}, headers={"Idempotency-Key": "k1"}
    )
    assert first.headers["idempotent-replayed"] == "true"
    assert first.headers["location"] == replayed.headers["location"]


async def test_read_one_application(api: Api) -> None:
    response = await api.get(f"{ORG}/p/web/a/shop/", key="org-everyday")
    assert response.json() == {
        "slug": "shop", "name": "Shop", "active": True, "locked": False, "paused": False
    }
    blog = await api.get(f"{ORG}/p/web/a/blog/", key="blog-app")
    assert (blog.status_code, blog.json()["paused"]) == (200, True)
    assert (await api.get(f"{ORG}/p/web/a/ghost/")).json() == problem(404, "unknown application 'ghost'")
    assert (await api.get(f"{ORG}/p/nope/a/shop/")).json() == problem(404, "unknown project 'nope'")
    assert (await api.get(f"{ORG}/p/web/a/blog/", key="shop-app")).json() == problem(
        403, "key is not valid for application 'blog'"
    )
    assert (await api.get(f"{ORG}/p/web/a/shop/", key="without-organization:read")).json() == problem(
        403, "key lacks the grant organization:read"
    )


async def test_read_one_event(api: Api) -> None:
    response = await api.get(f"{SHOP}/e/refund/", key="shop-app")
    assert response.json() == {
        "name": "Refund", "slug": "refund", "description": "the refund event",
        "active": True, "locked": False, "paused": True,
    }
    listed = await api.get(f"{SHOP}/e/", key="shop-app")
    assert response.json() in listed.json()
    assert (await api.get(f"{SHOP}/e/nope/")).json() == problem(404, "unknown event 'nope'")
    assert (await api.get(f"{SHOP}/e/refund/", key="without-event:list")).json() == problem(
        403, "key lacks the grant event:list"
    )


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("PATCH", f"{ORG}/u/nobody/", "unknown user 'nobody'"),
        ("POST", f"{ORG}/u/nobody/address/", "unknown user 'nobody'"),
        ("POST", f"{ORG}/p/web/d/999/add/", "unknown distribution list 999"),
        ("PATCH", f"{SHOP}/e/order-paid/n/999/", "unknown notification 999"),
        ("PUT", f"{SHOP}/e/order-paid/n/999/templates/email/", "unknown notification 999"),
        ("POST", f"{SHOP}/n/999/subscribe/", "unknown notification 999"),
        ("POST", f"{SHOP}/e/nope/trigger/", "unknown event 'nope'"),
        ("POST", f"{ORG}/p/nope/a/", "unknown project 'nope'"),
    ],
)
async def test_what_the_path_names_is_looked_up_before_the_body_is_read(
    api: Api, method: str, path: str, detail: str
) -> None:
    response = await api.client.request(method, path, content=b"{nope", headers=api.key("org-all"))
    assert response.json() == problem(404, detail)


async def test_the_docs_ui_is_served_with_its_assets_from_this_server(api: Api) -> None:
    for path in ("/schema/swagger", "/schema"):
        page = await api.client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r"""(?:href|src)=["']([^"']+)""", page.text)
        assert assets and all(asset.startswith("/schema/assets/") for asset in assets), assets
        for asset in assets:
            served = await api.client.get(asset)
            assert served.status_code == 200 and len(served.content) > 1000, asset
    bundle = await api.client.get("/schema/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    missing = await api.client.get("/schema/assets/nope.js")
    assert missing.json() == problem(404, "no file or directory match the path nope.js was found")


async def test_options_allows_every_method_of_the_path(api: Api) -> None:
    """Litestar's own OPTIONS answer listed only the methods of the first handler registered at a path."""
    for path, allowed in [
        (f"{ORG}/keys/", "GET, OPTIONS, POST"),
        (f"{ORG}/u/ann/", "GET, OPTIONS, PATCH, PUT"),
        (f"{ORG}/p/web/", "DELETE, GET, OPTIONS, PATCH"),
        (f"{SHOP}/e/order-paid/templates/email/", "DELETE, OPTIONS, PUT"),
    ]:
        response = await api.client.options(path, headers=api.key("org-all"))
        assert (response.status_code, response.headers["allow"]) == (204, allowed), path


async def test_a_body_that_may_be_empty_is_documented_as_optional(api: Api) -> None:
    operations = _operations(await _schema(api))
    assert operations["updateProject"][2]["requestBody"]["required"] is False  # empty = change nothing
    assert operations["createUser"][2]["requestBody"]["required"] is True
    response = await api.client.patch(f"{ORG}/p/web/", headers=api.key("org-all"))
    assert (response.status_code, response.json()["slug"]) == (200, "web")
