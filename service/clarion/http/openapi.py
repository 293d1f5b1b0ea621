"""The OpenAPI schema (`/schema/openapi.json`): what Litestar builds, completed with what it cannot see.

Litestar documents a request body only for a handler's `data` parameter, which
it decodes before any dependency runs — that would answer a bad body (400)
before an unknown event (404). Clarion decodes bodies in a dependency of the
path's level instead (`clarion.http.body.decoded`), so `complete_openapi`
writes each such operation's `requestBody` from the decoder's type. The
schemas of request types come from msgspec, the decoder itself
(`additionalProperties: false` where unknown fields are refused).

It also documents, on every operation, the problems (RFC 9457,
`clarion.http.problems`) it can answer, by what the operation has:

| the operation has | problems |
|---|---|
| a key requirement (everything under `/api/`) | 401, 403, 503 |
| path parameters | 404 (unknown slug or id), 400 (a NUL in a value) |
| query or header parameters | 400 |
| a request body | 400, 413 |
| is a write (POST, PUT, PATCH, DELETE) under `/api/` | 409 (a clash with data written at the same time, a name taken, a row still in use) |
| `Idempotency-Key` | 422 (the key was used for a different request) |

and `Location` on the 201 of an operation that declares it (a template PUT
answers 200 when it replaced, 201 when it created).
"""

from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, RequestBody
from litestar.routes import HTTPRoute

from clarion.http.body import BodyDecoder
from clarion.http.problems import PROBLEM_MEDIA_TYPE, InternalProblem, Problem

COMPONENTS = "#/components/schemas/{name}"
WRITES = frozenset({"post", "put", "patch", "delete"})
METHODS = ("get", "put", "post", "delete", "patch")


def complete_openapi(app: Litestar) -> OpenAPI:
    """Add request bodies, problem responses and `Location` headers to the app's schema (in place)."""
    openapi = app.openapi_schema
    handlers = _handlers_by_operation_id(app)
    decoders: dict[str, BodyDecoder] = {}
    for operation_id, handler in handlers.items():
        provider = handler.resolve_dependencies().get("payload")
        decoder = getattr(provider.dependency, "decoder", None) if provider is not None else None
        if isinstance(decoder, BodyDecoder):
            decoders[operation_id] = decoder
    kinds = [decoder.kind for decoder in decoders.values()]
    refs, components = msgspec.json.schema_components([Problem, InternalProblem, *kinds], ref_template=COMPONENTS)
    schemas = openapi.components.schemas
    for name, schema in components.items():
        schemas.setdefault(name, schema)  # type: ignore[arg-type]  # plain JSON Schema, serialized as is
    problem_ref, internal_ref, *kind_refs = refs
    kind_schema = dict(zip(decoders, kind_refs, strict=True))
    for path, item in (openapi.paths or {}).items():
        for method in METHODS:
            operation: Operation | None = getattr(item, method)
            if operation is None or operation.operation_id not in handlers:
                continue
            decoder = decoders.get(operation.operation_id)
            if decoder is not None:
                operation.request_body = RequestBody(
                    required=decoder.required,
                    content={"application/json": OpenAPIMediaType(schema=kind_schema[operation.operation_id])},
                )
            _add_problems(operation, path, method, problem_ref, internal_ref, body=decoder is not None)
            _locate_created(operation)
    return openapi


def _handlers_by_operation_id(app: Litestar) -> dict[str, HTTPRouteHandler]:
    handlers: dict[str, HTTPRouteHandler] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if isinstance(handler.operation_id, str):
                    handlers[handler.operation_id] = handler
    return handlers


def _add_problems(
    operation: Operation, path: str, method: str, problem_ref: Any, internal_ref: Any, *, body: bool
) -> None:
    parameters = [parameter for parameter in operation.parameters or [] if not isinstance(parameter, Reference)]
    statuses: set[int] = set()
    if operation.security:
        statuses |= {401, 403, 503}
    if any(parameter.param_in == "path" for parameter in parameters):
        statuses |= {400, 404}
    if any(parameter.param_in in ("query", "header") for parameter in parameters):
        statuses.add(400)
    if body:
        statuses |= {400, 413}
    if method in WRITES and path.startswith("/api/"):
        statuses.add(409)
    if any(parameter.name.lower() == "idempotency-key" for parameter in parameters):
        statuses.add(422)
    if path.startswith("/ready"):
        statuses.add(503)
    responses = operation.responses if operation.responses is not None else {}
    for status in sorted(statuses):
        responses[str(status)] = _problem_response(status, problem_ref)
    if operation.security:
        responses["500"] = _problem_response(500, internal_ref)
    operation.responses = responses


def _problem_response(status: int, schema: Any) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=f"{HTTPStatus(status).phrase}: an RFC 9457 problem; `detail` says what is wrong",
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=schema)},
    )


def _locate_created(operation: Operation) -> None:
    """`Location` belongs to the 201: move it there when the success answer is a 200 (template PUTs)."""
    responses = operation.responses or {}
    ok, created = responses.get("200"), responses.get("201")
    if not isinstance(ok, OpenAPIResponse) or not isinstance(created, OpenAPIResponse) or not ok.headers:
        return
    location = ok.headers.pop("Location", None)
    if location is not None:
        created.headers = {**(created.headers or {}), "Location": location}
