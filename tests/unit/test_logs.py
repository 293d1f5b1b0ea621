"""Log lines keep `extra` fields and the `log_fields` context, as JSON keys or `key=value` after the text."""

import asyncio
import json
import logging

import pytest

from clarion.logs import ContextFields, JsonFormatter, TextFormatter, current_field, log_fields

pytestmark = pytest.mark.no_db


def _record(message: str = "sent %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("clarion.test").makeRecord(
        "clarion.test", logging.INFO, __file__, 1, message, args or ("x",), None, extra=extra
    )
    ContextFields().filter(record)
    return record


def test_json_keeps_extra_fields_and_the_context() -> None:
    with log_fields(request_id="r-1"):
        line = json.loads(JsonFormatter().format(_record(delivery_id="d-1", attempt=2)))
    assert line["message"] == "sent x"
    assert (line["request_id"], line["delivery_id"], line["attempt"]) == ("r-1", "d-1", 2)
    assert {"time", "level", "logger"} <= set(line) and "args" not in line and "msg" not in line


def test_text_appends_the_fields_sorted() -> None:
    with log_fields(occurrence_id="o-1"):
        line = TextFormatter().format(_record(delivery_id="d-1"))
    assert line.endswith("INFO clarion.test: sent x delivery_id=d-1 occurrence_id=o-1")


def test_an_explicit_extra_wins_over_the_context_and_the_context_ends() -> None:
    with log_fields(request_id="outer"):
        assert json.loads(JsonFormatter().format(_record(request_id="inner")))["request_id"] == "inner"
        assert current_field("request_id") == "outer"
    assert current_field("request_id") is None
    assert "request_id" not in json.loads(JsonFormatter().format(_record()))


async def test_the_context_follows_tasks_started_inside_it() -> None:
    seen: list[str | None] = []

    async def child() -> None:
        seen.append(current_field("delivery_id"))

    with log_fields(delivery_id="d-9"):
        task = asyncio.create_task(child())
    await task
    await asyncio.create_task(child())
    assert seen == ["d-9", None]
