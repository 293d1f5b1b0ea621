"""The render pool: real worker processes, killed when they overrun, shared fairly by tenants."""

import asyncio
import time

import pytest

from clarion.rendering import RenderedMessage, RenderError, RenderJob, RenderLimits, TemplateParts, TemplateRenderer
from clarion.rendering.pool import KILL_MARGIN_S

pytestmark = pytest.mark.no_db

TIMEOUT_S = 0.5
# Jinja folds this at compile time, where no guard of the sandbox runs: only a kill stops it.
FOLDED = TemplateParts(text="{{ [1]|batch(30000000, 0)|first|length }}")
SPIN = TemplateParts(text="{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
HELLO = TemplateParts(subject="To {{ recipient.name }}", text="Order {{ order }}")


@pytest.fixture
async def renderer() -> TemplateRenderer:
    renderer = TemplateRenderer(RenderLimits(render_timeout_s=TIMEOUT_S, worker_memory_mb=0), workers=2)
    yield renderer
    await renderer.close()


def jobs(template: TemplateParts, *names: str) -> list[RenderJob]:
    return [RenderJob(template, {"name": name}) for name in names]


async def test_a_batch_shares_its_context_and_keeps_its_order(renderer: TemplateRenderer) -> None:
    results = await renderer.render_many(
        [*jobs(HELLO, "ann"), RenderJob(TemplateParts(text="{{ nope.x }}"), {}), *jobs(HELLO, "bob")],
        context={"order": 7}, tenant="acme",
    )
    assert results[0] == RenderedMessage("To ann", "Order 7")
    assert isinstance(results[1], RenderError) and "UndefinedError" in str(results[1])
    assert results[2] == RenderedMessage("To bob", "Order 7")


async def test_an_overrun_kills_the_worker_and_fails_only_its_template(renderer: TemplateRenderer) -> None:
    started = time.monotonic()
    results = await renderer.render_many(
        [*jobs(FOLDED, "a"), *jobs(HELLO, "b"), *jobs(FOLDED, "c"), *jobs(HELLO, "d")],
        context={"order": 1}, tenant="acme",
    )
    took = time.monotonic() - started
    limit = f"text: render time limit exceeded (templates.render_timeout_s = {TIMEOUT_S:g})"
    assert [str(result) if isinstance(result, RenderError) else result for result in results] == [
        limit, RenderedMessage("To b", "Order 1"), limit, RenderedMessage("To d", "Order 1"),
    ]
    # one kill for the template, not one per message that uses it (plus a new worker's start)
    assert took < TIMEOUT_S + KILL_MARGIN_S + 1.0, took


async def test_guards_stop_a_spinning_template_once_per_batch(renderer: TemplateRenderer) -> None:
    started = time.monotonic()
    results = await renderer.render_many(jobs(SPIN, *"abcdef"), context={}, tenant="acme")
    assert {str(result) for result in results} == {
        f"text: render time limit exceeded (templates.render_timeout_s = {TIMEOUT_S:g})"
    }
    assert time.monotonic() - started < TIMEOUT_S + KILL_MARGIN_S, "the batch spun once per message"


async def test_one_tenant_cannot_hold_the_whole_pool(renderer: TemplateRenderer) -> None:
    await renderer.render_many(jobs(HELLO, "warm"), context={}, tenant="other")  # both sides started
    attack = [asyncio.create_task(renderer.render_many(jobs(FOLDED, "x"), context={}, tenant="mallory"))
              for _ in range(4)]
    await asyncio.sleep(0.1)  # mallory now holds what it may and queues the rest
    started = time.monotonic()
    result = await renderer.render_many(jobs(HELLO, "ann"), context={"order": 2}, tenant="other")
    assert result == [RenderedMessage("To ann", "Order 2")]
    assert time.monotonic() - started < TIMEOUT_S, "the other tenant waited behind the runaway ones"
    for outcome in await asyncio.gather(*attack):
        assert isinstance(outcome[0], RenderError)


async def test_a_check_compiles_in_a_worker_and_names_the_part(renderer: TemplateRenderer) -> None:
    assert await renderer.check(HELLO, tenant="acme") == []
    errors = await renderer.check(TemplateParts(subject="{% if %}", text=FOLDED.text), tenant="acme")
    assert errors[0].startswith("subject: template does not compile (line 1): ")
    assert errors[1] == (
        f"text: template does not compile in time: render time limit exceeded (templates.render_timeout_s = {TIMEOUT_S:g})"
    )


async def test_the_event_loop_runs_while_workers_spin(renderer: TemplateRenderer) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await asyncio.gather(renderer.render_many(jobs(FOLDED, "a"), context={}, tenant="a"),
                         renderer.check(FOLDED, tenant="b"))
    task.cancel()
    assert ticks >= 25  # ~0.5 s of 10 ms ticks, with room for a loaded machine


async def test_a_cancelled_render_leaves_the_pool_usable(renderer: TemplateRenderer) -> None:
    task = asyncio.create_task(renderer.render_many(jobs(SPIN, "a"), context={}, tenant="acme"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await renderer.render_many(jobs(HELLO, "b"), context={"order": 3}, tenant="acme") == [
        RenderedMessage("To b", "Order 3")
    ]


async def test_memory_is_limited_per_worker() -> None:
    renderer = TemplateRenderer(RenderLimits(render_timeout_s=5, worker_memory_mb=256), workers=1)
    try:
        results = await renderer.render_many(
            [RenderJob(TemplateParts(text="{{ (1).to_bytes(500000000, 'big') }}"), {}), *jobs(HELLO, "b")],
            context={"order": 5}, tenant="acme",
        )
        assert str(results[0]) == "text: memory limit exceeded (templates.worker_memory_mb = 256)"
        assert results[1] == RenderedMessage("To b", "Order 5")
    finally:
        await renderer.close()


async def test_a_worker_grown_past_half_its_limit_is_replaced_between_requests() -> None:
    # A new worker already holds more than half of 40 MB: it leaves after every request.
    renderer = TemplateRenderer(RenderLimits(worker_memory_mb=40), workers=1)
    try:
        for order in range(3):
            assert await renderer.render_many(jobs(HELLO, "c"), context={"order": order}, tenant="acme") == [
                RenderedMessage("To c", f"Order {order}")
            ]
            assert await renderer.check(HELLO, tenant="acme") == []
        assert renderer.worker_starts == 9  # a render and a check of each of the two parts, three times
    finally:
        await renderer.close()
