"""Request ids on every request and response, the switchable access log, ids on dispatcher lines."""

import asyncio
import logging
from collections.abc import Callable

import pytest
from delivery_support import Bed, MailSink, bed, bed_config, catalog, event, mail_sink, member, user  # noqa: F401

from clarion.settings import Settings
from events_api_support import API_CONFIG, ORDER_PAID, Api, api  # noqa: F401


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(API_CONFIG + "\n[logging]\naccess_log = true\n")


async def test_a_sent_request_id_is_returned_and_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="clarion.access"):
        answer = await api.post(ORDER_PAID, json={}, headers={"X-Request-ID": "trace-42"})
    assert answer.status_code == 201 and answer.headers["x-request-id"] == "trace-42"
    (line,) = [record for record in caplog.records if record.name == "clarion.access"]
    assert line.getMessage() == f"POST {ORDER_PAID} 201"
    assert (line.request_id, line.status, line.method) == ("trace-42", 201, "POST")  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]


async def test_every_request_gets_an_id_even_refused_ones(api: Api) -> None:
    first, second = (await api.client.get("/health/")), (await api.client.get("/api/system/ping/"))
    assert second.status_code == 401
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(value) == 26 for value in ids)  # fresh ULIDs
    unusable = await api.client.get("/health/", headers={"X-Request-ID": "x" * 129})
    assert len(unusable.headers["x-request-id"]) == 26  # too long: replaced, not echoed
    assert unusable.headers.get_list("x-request-id") == [unusable.headers["x-request-id"]]


async def test_the_access_log_is_off_by_default(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(API_CONFIG).logging.access_log is False


async def test_dispatcher_lines_name_the_occurrence_and_the_delivery(
    bed: Bed, mail_sink: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    await bed.apply(catalog([user("ann")], [member("ann")], [event()]))
    with caplog.at_level(logging.DEBUG, logger="clarion.dispatch.dispatcher"):
        occurrence = await bed.trigger(body={"context": {"order_id": "A-1"}})
        await mail_sink.wait_for(1, timeout=30)
        for _ in range(100):
            delivered = [record for record in caplog.records if record.getMessage().endswith(" delivered")]
            if delivered:
                break
            await asyncio.sleep(0.1)
    (line,) = delivered
    assert line.occurrence_id == occurrence  # type: ignore[attr-defined]
    assert line.getMessage() == f"delivery {line.delivery_id} delivered"  # type: ignore[attr-defined]
