"""The console's dashboard drawing and its percentiles (pure functions; the page itself: test_console.py).

The console's modules are imported inside the tests, not at collection: the derandomized fuzz test
(test_api_fuzz.py) drew different requests once the dashboard's imports were loaded before it ran.
"""

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.no_db


def test_percentiles_are_nearest_rank() -> None:
    from clarion.occurrences.store.activity import _percentiles

    assert _percentiles([]) == {}
    assert _percentiles([3.0]) == {50: 3.0, 90: 3.0, 99: 3.0}
    values = [float(n) for n in range(1, 101)]  # 1 … 100
    assert _percentiles(values) == {50: 50.0, 90: 90.0, 99: 99.0}


def test_the_page_draws_every_figure_and_escapes_labels() -> None:
    from clarion.console.dashboard import render_dashboard
    from clarion.occurrences.store.activity import Activity
    from clarion.occurrences.store.queue import QueueState

    now = datetime(2026, 12, 8, 12, 30, tzinfo=UTC)
    hours = [now.replace(minute=0) - timedelta(hours=23 - index) for index in range(24)]
    activity = Activity(
        since=now - timedelta(hours=24),
        by_status={"delivered": 40, "failed": 2},
        by_channel={"email": 30, "<hook>": 12},
        hourly=[(hour, {"delivered": 2} if index % 2 else {}) for index, hour in enumerate(hours)],
        latency_s={50: 0.25, 90: 1.5, 99: 4.0},
        sampled=42,
    )
    page = render_dashboard(activity, [QueueState("occurrence", 3, 12.5), QueueState("delivery", 0, 0.0)], user="ops")
    assert "last 24 hours (42)" in page
    assert ">delivered</text>" in page and ">40</text>" in page
    assert "&lt;hook&gt;" in page and "<hook>" not in page
    assert page.count("<title>") == 1 + 12  # the page's, and one stacked segment per hour that had deliveries
    assert "<tr><td>occurrence</td><td>3</td><td>12.5 s</td></tr>" in page
    assert ">p99</text>" in page and ">4s</text>" in page
    assert "<script" not in page
