"""Per-message render cost: the render worker pool against rendering in-process.

Renders the same email template (subject + text, a few context lookups and a
filter) for batches of 1, 10 and 100 recipients: through `TemplateRenderer`
(a worker process, one call per batch, as the dispatcher does for one
occurrence) and, as the ceiling measured in the same run, with the sandbox
directly in this process (no process hop, no isolation). Prints µs per message
for both and their ratio; exits 1 if a batch of 100 costs more than the target
per message through the pool.

    python bench/render_cost.py [--seconds 2]
"""

import argparse
import asyncio
import json
import sys
import time

from clarion.rendering import RenderJob, RenderLimits, TemplateParts, TemplateRenderer, template_context
from clarion.rendering.sandbox import SandboxRenderer

TARGET_US_PER_MESSAGE = 200.0
TEMPLATE = TemplateParts(
    subject="Order {{ order_id }} paid",
    text="Hi {{ recipient.first_name }}, order {{ order_id }} of {{ amount }} was paid "
    "({{ customer.tier|upper }}, {{ event.name }}).",
)
CONTEXT = template_context(
    {"order_id": "A1", "amount": "10.00", "customer": {"id": 42, "tier": "gold"}},
    {"event": {"slug": "order-paid", "name": "Order paid"}, "occurrence": {"id": "x", "timestamp": "t"}},
)


def recipients(count: int) -> list[dict[str, str]]:
    return [{"username": f"u{n}", "first_name": f"User {n}", "email": f"u{n}@example.com",
             "address": f"u{n}@example.com", "channel": "email"} for n in range(count)]


def in_process_us(batch: int, seconds: float) -> float:
    renderer = SandboxRenderer(RenderLimits())
    people = recipients(batch)
    messages = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for person in people:
            renderer.render(TEMPLATE, {**CONTEXT, "recipient": person}, frozenset({"subject", "text"}))
        messages += batch
    return (time.perf_counter() - started) / messages * 1e6


async def pool_us(batch: int, seconds: float) -> float:
    renderer = TemplateRenderer(RenderLimits(), workers=2)
    jobs = [RenderJob(TEMPLATE, person, frozenset({"subject", "text"})) for person in recipients(batch)]
    try:
        await renderer.render_many(jobs, context=CONTEXT, tenant="bench")  # start the worker, warm its cache
        messages = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await renderer.render_many(jobs, context=CONTEXT, tenant="bench")
            messages += batch
        return (time.perf_counter() - started) / messages * 1e6
    finally:
        await renderer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    rows = []
    print(f"{'batch':>6} {'pool µs/msg':>12} {'in-process µs/msg':>18} {'ratio':>6}")
    for batch in (1, 10, 100):
        pooled = asyncio.run(pool_us(batch, args.seconds))
        local = in_process_us(batch, args.seconds)
        rows.append({"batch": batch, "pool_us": round(pooled, 1), "in_process_us": round(local, 1),
                     "ratio": round(local / pooled, 2)})
        print(f"{batch:>6} {pooled:>12.1f} {local:>18.1f} {local / pooled:>6.2f}")
    ok = rows[-1]["pool_us"] <= TARGET_US_PER_MESSAGE
    print(json.dumps({"benchmark": "render_cost", "rows": rows, "target_us_per_message": TARGET_US_PER_MESSAGE,
                      "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
