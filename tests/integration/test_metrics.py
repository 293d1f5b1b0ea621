"""`/metrics` counts what happens, without tenant labels by default."""

import re

from events_api_support import ORDER_PAID, Api, api, api_settings  # noqa: F401  (fixtures)


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_triggers_are_counted_without_tenant_labels(api: Api) -> None:
    before = (await api.client.get("/metrics")).text
    for _ in range(3):
        assert (await api.post(ORDER_PAID, json={})).status_code == 201
    after = (await api.client.get("/metrics")).text
    name = 'clarion_triggers_total{event="all"}'
    assert sample(after, name) - sample(before, name) == 3
    assert "acme" not in after and "order-paid" not in after
    assert sample(after, 'clarion_queue_depth{kind="occurrence"}') >= 3
    assert sample(after, 'clarion_oldest_pending_seconds{kind="occurrence"}') > 0
