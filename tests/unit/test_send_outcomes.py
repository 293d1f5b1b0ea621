"""Send results → delivery state: every result handled, reasons, backoff with jitter and Retry-After."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from clarion_plugins import Delivered, PermanentFailure, TransientFailure

from clarion.channels.runtime import ChannelUnavailable
from clarion.dispatch import sending
from clarion.occurrences.store.claims import ClaimedDelivery
from clarion.dispatch.sending import backoff_delay, outbound_message, outcome_of, reason_code

pytestmark = pytest.mark.no_db

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def delivery(attempt: int = 1) -> ClaimedDelivery:
    return ClaimedDelivery(
        id="D1", occurrence_id="O1", channel="webhook", address="https://x.example/in", subject=None,
        text='{"a": 1}', html=None, attempt=attempt, secret="whsec_c2VjcmV0", event="order-paid",
        context={"a": 1}, created=NOW, correlation_id="cid-1", recipient={"username": "alice"},
    )


def outcome(result, attempt: int = 1, rng=lambda: 1.0):  # type: ignore[no-untyped-def]
    return outcome_of(delivery(attempt), result, max_attempts=3, backoff_base_s=2.0, backoff_max_s=60.0, now=NOW, rng=rng)


def test_delivered() -> None:
    result = outcome(Delivered(provider_id="p-1"))
    assert (result.status, result.provider_id, result.delivered_at, result.final) == ("delivered", "p-1", NOW, True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http_410", "http_410"),
        ("address_rejected: not a mailbox: 'x'", "address_rejected"),
        ("smtp_550: 5.1.1 no such user", "smtp_550"),
        ("Bad Thing Happened", "bad_thing_happened"),
        ("", "permanent_failure"),
        ("::", "permanent_failure"),
    ],
)
def test_permanent_failures_get_a_short_reason_and_keep_the_text(text: str, reason: str) -> None:
    result = outcome(PermanentFailure(text))
    assert (result.status, result.reason, result.last_error) == ("failed", reason, text)
    assert reason_code(text) == reason


def test_transient_failures_are_retried_with_backoff_then_fail() -> None:
    first = outcome(TransientFailure("connection_error: refused"), attempt=1)
    assert first.status == "pending" and not first.final
    assert first.next_attempt_at == NOW + timedelta(seconds=2.0)
    second = outcome(TransientFailure("timeout"), attempt=2)
    assert second.next_attempt_at == NOW + timedelta(seconds=4.0)
    last = outcome(TransientFailure("timeout"), attempt=3)
    assert (last.status, last.reason, last.last_error) == ("failed", "max_attempts", "timeout")


def test_retry_after_is_a_minimum() -> None:
    result = outcome(TransientFailure("http_503", retry_after=30.0), attempt=1)
    assert result.next_attempt_at == NOW + timedelta(seconds=30.0)
    shorter = outcome(TransientFailure("http_503", retry_after=0.5), attempt=2)
    assert shorter.next_attempt_at == NOW + timedelta(seconds=4.0)


def test_unavailable_channels_are_skipped_without_counting_an_attempt() -> None:
    disabled = outcome(ChannelUnavailable("channel_disabled"))
    assert (disabled.status, disabled.reason, disabled.attempt_counted) == ("skipped", "channel_disabled", False)
    unknown = outcome(ChannelUnavailable("channel_unknown"))
    assert (unknown.status, unknown.reason) == ("skipped", "channel_unknown")


def test_backoff_doubles_up_to_the_maximum_with_equal_jitter() -> None:
    assert [backoff_delay(n, 2.0, 60.0, rng=lambda: 1.0) for n in (1, 2, 3, 4, 5, 6, 100)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(3, 2.0, 60.0, rng=lambda: 0.0) == 4.0
    assert 4.0 <= backoff_delay(3, 2.0, 60.0) <= 8.0


def test_the_outbound_message_carries_what_the_spec_lists() -> None:
    message = outbound_message(delivery(attempt=2))
    assert message.idempotency_key == message.delivery_id == "D1"
    assert (message.attempt, message.secret, message.timestamp, message.correlation_id) == (2, "whsec_c2VjcmV0", NOW, "cid-1")
    assert (message.event, message.address, message.context, message.recipient) == (
        "order-paid", "https://x.example/in", {"a": 1}, {"username": "alice"})


async def test_the_outcome_writer_writes_what_was_submitted_just_before_close(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[list[str]] = []

    async def fake_write(outcomes, *, worker_id, postgres):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.01)
        return []

    monkeypatch.setattr(sending, "write_outcomes", fake_write)
    writer = sending.OutcomeWriter(worker_id="w", postgres=False,
                                   on_written=lambda batch, _: written.append([o.delivery_id for o in batch]))
    writer.start()
    first = outcome(Delivered())
    writer.submit(first)
    await asyncio.sleep(0)  # the writer takes the first outcome
    writer.submit(outcome(Delivered()))
    writer.submit(outcome(PermanentFailure("x")))
    await asyncio.wait_for(writer.close(), 2)  # and still notices it must stop
    assert [len(batch) for batch in written] == [1, 2]


@pytest.mark.parametrize("attempt", [1, 3])
def test_a_deferred_send_is_pending_again_uncounted_after_its_retry_after(attempt: int) -> None:
    deferred = TransientFailure("host_busy: 4 requests to x.example in flight", retry_after=0.5, attempted=False)
    result = outcome(deferred, attempt=attempt, rng=lambda: 0.0)
    assert (result.status, result.attempt_counted, result.final) == ("pending", False, False)
    assert result.next_attempt_at == NOW + timedelta(seconds=0.5)  # no backoff, and never max_attempts
    assert result.last_error == "host_busy: 4 requests to x.example in flight"
    jittered = outcome(deferred, rng=lambda: 1.0)
    assert jittered.next_attempt_at == NOW + timedelta(seconds=0.55)
    soon = outcome(TransientFailure("busy", attempted=False), rng=lambda: 0.0)
    assert soon.next_attempt_at == NOW + timedelta(seconds=sending.DEFERRED_MIN_S)
