"""Every error answer is an RFC 9457 problem: `application/problem+json` with `type`, `title`, `status`, `detail`.

`detail` is the text clients already read (it names the field or the thing
that is wrong); `type` is `about:blank`, so `title` is the status's phrase.
Clarion's own errors (`clarion.errors`), the framework's (unknown route 404,
405, 413, parameter validation) and unexpected ones (500 with a `request_id`
extension member, 503 when the database cannot serve) all go through
`problem` via Litestar's `ProblemDetailsPlugin` (`problem_details_plugin`).
`Problem` is the same shape as a Struct, for the OpenAPI schema.
"""

import logging
import sqlite3
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import msgspec

from asyncpg.exceptions import IntegrityConstraintViolationError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from clarion.db.failures import storage_problem
from clarion.errors import ClarionError
from clarion.ids import new_id
from clarion.logs import current_field
from clarion.schemas import Response as ResponseStruct

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
CONFLICT_DETAIL = "conflict: the request clashes with data written at the same time; read it again and retry"


class Problem(ResponseStruct):
    """An RFC 9457 problem: `detail` says what is wrong and names the field."""

    type: str
    title: str
    status: int
    detail: str


class InternalProblem(Problem):
    """A 500: `request_id` is also in the log line that holds the traceback."""

    request_id: str


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
) -> ProblemDetailsException:
    """The problem answering `status` with `detail` (and extension members)."""
    return ProblemDetailsException(
        status_code=status,
        detail=detail,
        type_="about:blank",
        title=HTTPStatus(status).phrase,
        headers=headers,
        extra=extensions or None,
    )


PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, detail: str) -> bytes:
    """The JSON of a problem, for answers sent before Litestar's exception handling (raw ASGI middleware)."""
    return msgspec.json.encode(
        {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    )


def _clarion_problem(exc: ClarionError) -> ProblemDetailsException:
    return problem(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))


def _http_problem(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ProblemDetailsException):
        return exc
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


def _validation_problem(exc: ValidationException) -> ProblemDetailsException:
    return problem(400, validation_detail(exc))


def _integrity_problem(exc: Exception) -> ProblemDetailsException:
    """Two requests creating the same row at once: the loser's unique-index violation is a 409, not a 500."""
    logger.info("integrity error answered 409: %s", exc)
    return problem(409, CONFLICT_DETAIL)


def validation_detail(exc: HTTPException) -> str:
    """Litestar says "Validation failed for POST /x"; name the field from the error's extra instead."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            message = str(item["message"]).replace("`", "")
            return f"{key}: {message}" if key else message
    return str(exc.detail)


def unexpected_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """503 naming what is wrong when the database is full, read-only or gone; otherwise a 500 whose
    `request_id` is also in the log line that holds the traceback."""
    cause = storage_problem(exc)
    if cause:
        logger.warning(
            "%s %s answered 503: %s (%s: %s)", request.method, request.url.path, cause, type(exc).__name__, exc
        )
        return problem(503, cause, headers={"Retry-After": "10"}).to_response(request)
    request_id = current_field("request_id") or new_id()  # the request's own (clarion.http.requestlog)
    logger.error(
        "unexpected error in %s %s (request_id %s)", request.method, request.url.path, request_id,
        exc_info=exc, extra={"request_id": request_id},
    )
    internal = problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        headers={"X-Request-ID": request_id},
        request_id=request_id,
    )
    return internal.to_response(request)


EXCEPTION_TO_PROBLEM: dict[type[Exception], Callable[[Any], ProblemDetailsException]] = {
    ClarionError: _clarion_problem,
    HTTPException: _http_problem,
    ValidationException: _validation_problem,
    sqlite3.IntegrityError: _integrity_problem,
    IntegrityConstraintViolationError: _integrity_problem,
}


def problem_details_plugin() -> ProblemDetailsPlugin:
    """Litestar's problem-details support, with every exception above mapped to its problem."""
    return ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=EXCEPTION_TO_PROBLEM))
