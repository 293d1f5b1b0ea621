"""The console's dashboard (/admin/dashboard/): the last 24 hours and the queue, drawn as SVG on the server.

The charts are plain SVG written here (no script, no stylesheet or font from
anywhere else), so the page needs nothing but itself. It sits behind the
console's login: the same session cookie, checked by Piccolo's session backend.
"""

from datetime import datetime
from html import escape

from piccolo_api.session_auth.middleware import SessionsAuthBackend
from starlette.authentication import AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from clarion.occurrences.store.activity import WINDOW, Activity, delivery_activity
from clarion.occurrences.store.queue import QueueState, queue_state
from clarion.operators.tables import Operator, OperatorSession

STATUS_COLOURS = {
    "delivered": "#2f9e44", "pending": "#1c7ed6", "retrying": "#f59f00", "failed": "#e03131", "skipped": "#868e96",
}
OTHER_COLOUR = "#7950f2"
WIDTH = 640


def dashboard_app() -> ASGIApp:
    """The page, for logged-in operators only; others are sent to the login page."""
    return AuthenticationMiddleware(
        _dashboard,
        backend=SessionsAuthBackend(auth_table=Operator, session_table=OperatorSession, admin_only=True),
        on_error=_to_login,
    )


async def _dashboard(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    request = Request(scope, receive)
    activity, queue = await delivery_activity(), await queue_state()
    response = HTMLResponse(render_dashboard(activity, queue, user=request.user.display_name))
    await response(scope, receive, send)


def _to_login(connection: HTTPConnection, exc: AuthenticationError) -> Response:
    return RedirectResponse(f"{connection.scope.get('root_path', '')}/#/login", status_code=303)


def render_dashboard(activity: Activity, queue: list[QueueState], *, user: str) -> str:
    total = sum(activity.by_status.values())
    hours = int(WINDOW.total_seconds() // 3600)
    sections = [
        _section(f"Deliveries per status, last {hours} hours ({total})", _bars(activity.by_status, _status_colour)),
        _section("Deliveries per channel", _bars(activity.by_channel, lambda _: OTHER_COLOUR)),
        _section("Deliveries per hour (UTC)", _hourly(activity.hourly)),
        _section("Queue", _queue_table(queue)),
        _section(
            "Send latency (creation → delivered)",
            _bars({f"p{p}": round(seconds, 3) for p, seconds in activity.latency_s.items()}, lambda _: "#1098ad", "s")
            if activity.latency_s else "<p>No delivered messages in the window.</p>",
        ),
    ]
    note = f"Hourly series and latency from the {activity.sampled} most recent deliveries of the window."
    return _PAGE.format(user=escape(user), since=_time(activity.since), body="\n".join(sections), note=escape(note))


def _status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, OTHER_COLOUR)


def _section(title: str, content: str) -> str:
    return f'<section><h2>{escape(title)}</h2>{content}</section>'


def _bars(values: dict[str, float], colour, unit: str = "") -> str:  # type: ignore[no-untyped-def]
    """A horizontal bar per label, longest = full width."""
    if not values:
        return "<p>Nothing in the window.</p>"
    top = max(values.values()) or 1
    row, label_w, bar_w = 28, 120, WIDTH - 200
    parts = []
    for index, (label, value) in enumerate(sorted(values.items(), key=lambda item: -item[1])):
        y = index * row
        width = max(bar_w * value / top, 1)
        parts.append(
            f'<text x="0" y="{y + 18}">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="18" fill="{colour(label)}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 18}">{value:g}{unit}</text>'
        )
    return _svg(len(values) * row, "".join(parts), "bars")


def _hourly(hourly: list[tuple[datetime, dict[str, int]]]) -> str:
    """Stacked columns, one per hour, coloured by status."""
    height, base, column = 160, 140, (WIDTH - 40) / len(hourly)
    top = max((sum(counts.values()) for _, counts in hourly), default=0) or 1
    parts = []
    for index, (hour, counts) in enumerate(hourly):
        x, y = 30 + index * column, base
        for status, count in sorted(counts.items()):
            h = (base - 10) * count / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{column - 2:.1f}" height="{h:.1f}" fill="{_status_colour(status)}">'
                f"<title>{hour:%H}:00 {escape(status)}: {count}</title></rect>"
            )
        if index % 3 == 0:
            parts.append(f'<text x="{x:.1f}" y="{base + 16}">{hour:%H}h</text>')
    parts.append(f'<text x="0" y="12">{top}</text><line x1="28" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#adb5bd"/>')
    return _svg(height, "".join(parts), "hourly")


def _queue_table(queue: list[QueueState]) -> str:
    rows = "".join(
        f"<tr><td>{escape(state.kind)}</td><td>{state.depth}</td><td>{state.oldest_age_s:.1f} s</td></tr>"
        for state in queue
    )
    return f'<table><tr><th>pending</th><th>count</th><th>oldest waiting</th></tr>{rows}</table>'


def _svg(height: int, content: str, name: str) -> str:
    return (
        f'<svg class="{name}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">{content}</svg>'
    )


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Clarion · dashboard</title>
<style>
body {{ font-family: sans-serif; margin: 0; color: #212529; }}
header {{ background: #3a88d0; color: white; padding: 12px 20px; font-size: 20px; font-weight: bold; }}
header a {{ color: white; font-size: 14px; font-weight: normal; margin-left: 24px; }}
main {{ padding: 8px 20px; display: flex; flex-wrap: wrap; gap: 8px 40px; }}
section {{ min-width: {width}px; }}
h2 {{ font-size: 16px; margin: 16px 0 8px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 4px 16px 4px 0; text-align: left; }}
footer {{ padding: 8px 20px; color: #868e96; font-size: 12px; }}
</style></head>
<body><header>Clarion dashboard <a href="./../">back to the console</a><a>{user}</a></header>
<main>{body}</main>
<footer>Since {since}. {note} Drawn from the database at each load.</footer>
</body></html>""".replace("{width}", str(WIDTH))
