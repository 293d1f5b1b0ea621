"""A database that cannot take writes answers 503 with a `detail` and `/ready/` says so; any other
unexpected error is a 500 carrying a `request_id` that the logged traceback carries too (issue 8 §2).

Real databases, made to refuse for real: SQLite at its page limit (`PRAGMA max_page_count`,
what a full disk looks like to it), PostgreSQL with `default_transaction_read_only` (what a
demoted primary looks like).
"""

import json
import logging
import re

import asyncpg
import pytest

from clarion.db.failures import FULL, READ_ONLY
from clarion.logs import JsonFormatter
from clarion.organizations.tables import Organization
from clarion_test_support import ENGINE, problem
from events_api_support import api_settings  # noqa: F401
from membership_support import MembersApi, members  # noqa: F401

ORG = "/api/o/acme"
TRIGGER = f"{ORG}/p/web/a/shop/e/order-paid/trigger/"
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def _big_user(username: str) -> dict:
    """A user whose row needs fresh pages (more than one SQLite page of custom fields)."""
    return {"username": username, "custom_fields": {"notes": "x" * 200_000}}


async def _refuse_writes(members: MembersApi) -> str:
    """Make the app's database refuse every write that needs room; the detail a 503 then gives."""
    if ENGINE == "sqlite":
        pages = await Organization.raw("PRAGMA page_count")
        await Organization.raw(f"PRAGMA max_page_count = {pages[0]['page_count']}")
        return FULL
    await _set_read_only(members, True)
    return READ_ONLY


async def _allow_writes(members: MembersApi) -> None:
    if ENGINE == "sqlite":
        await Organization.raw("PRAGMA max_page_count = 1073741823")
    else:
        await _set_read_only(members, False)


async def _set_read_only(members: MembersApi, read_only: bool) -> None:
    """`default_transaction_read_only` on the test database, then reconnect the app's pool to take it up."""
    engine = members.app.state.runtime.engine
    dsn = engine.config["dsn"]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET default_transaction_read_only = off")  # this session may have taken it up
        database = await connection.fetchval("SELECT current_database()")
        await connection.execute(
            f'ALTER DATABASE "{database}" SET default_transaction_read_only = {"on" if read_only else "off"}'
        )
    finally:
        await connection.close()
    await engine.close()
    await engine.start()


async def test_a_database_that_refuses_writes_is_a_503_and_not_ready(members: MembersApi) -> None:
    assert (await members.client.get("/ready/")).json() == {"status": "ok"}
    detail = await _refuse_writes(members)
    try:
        for path, body in [(f"{ORG}/u/", _big_user("carol")), (TRIGGER, {"context": {"blob": "x" * 200_000}})]:
            response = await members.post(path, json=body)
            assert (response.status_code, response.json()) == (503, problem(503, detail)), path
            assert response.headers["Retry-After"] == "10"
        ready = await members.client.get("/ready/")
        assert (ready.status_code, ready.json()) == (503, problem(503, detail))
        # reads still work
        assert (await members.get(f"{ORG}/u/alice/")).status_code == 200
    finally:
        await _allow_writes(members)
    assert (await members.client.get("/ready/")).json() == {"status": "ok"}
    response = await members.post(f"{ORG}/u/", json=_big_user("carol"))
    assert response.status_code == 201, response.text


async def test_an_unexpected_error_is_logged_with_the_request_id_the_500_carries(
    members: MembersApi, caplog: pytest.LogCaptureFixture
) -> None:
    # A broken schema (the idempotency table is gone) is a bug of the deployment, not of the request.
    await Organization.raw("DROP TABLE idempotency_record")
    with caplog.at_level(logging.ERROR, logger="clarion.http.problems"):
        response = await members.post(TRIGGER, json={}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 500
    body = response.json()
    request_id = body["request_id"]
    assert body == problem(500, "Internal Server Error", request_id=request_id)
    assert response.headers["content-type"] == "application/problem+json"
    assert ULID.fullmatch(request_id) and response.headers["X-Request-ID"] == request_id
    [record] = [record for record in caplog.records if getattr(record, "request_id", None) == request_id]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == f"unexpected error in POST {TRIGGER.rstrip('/')} (request_id {request_id})"
    logged = json.loads(JsonFormatter().format(record))
    assert logged["request_id"] == request_id
    assert logged["exception"].startswith("Traceback (most recent call last):")
    assert "idempotency_record" in logged["exception"]
    # every 500 has its own id
    again = await members.post(TRIGGER, json={}, headers={"Idempotency-Key": "k2"})
    assert again.status_code == 500 and again.json()["request_id"] != request_id
