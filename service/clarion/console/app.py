"""Build the console: Piccolo Admin with Clarion's tables, forms and the `[admin]` settings."""

from collections.abc import Callable
from datetime import timedelta

from piccolo_admin.endpoints import create_admin
from piccolo_api.rate_limiting.middleware import InMemoryLimitProvider
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp

from clarion.console.dashboard import dashboard_app

from clarion.console.forms import console_forms
from clarion.console.shown import console_tables
from clarion.operators.tables import Operator, OperatorSession
from clarion.process import Runtime
from clarion.settings import AdminSettings

SITE_NAME = "Clarion"


def create_console(admin: AdminSettings, runtime: Callable[[], Runtime]) -> ASGIApp:
    """The console's ASGI app; `runtime()` gives the serving process's runtime once it has started.

    Piccolo Admin, plus the dashboard at `dashboard/` (a link in its sidebar).
    """
    admin_app = create_admin(
        tables=console_tables(runtime),
        forms=console_forms(runtime),
        auth_table=Operator,
        session_table=OperatorSession,
        session_expiry=timedelta(minutes=admin.session_minutes),
        max_session_expiry=timedelta(days=admin.max_session_days),
        rate_limit_provider=InMemoryLimitProvider(limit=admin.login_attempts, timespan=admin.login_window_s),
        production=admin.secure_cookies,
        allowed_hosts=admin.allowed_hosts,
        site_name=SITE_NAME,
        auto_include_related=False,
        sidebar_links={"Dashboard": "dashboard/"},
    )
    return Router(routes=[Route("/dashboard/", dashboard_app()), Mount("", app=admin_app)])
