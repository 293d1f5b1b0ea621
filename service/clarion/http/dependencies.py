"""What handlers are given besides the request: the process's parts and the tenant directory.

Registered on the app in `clarion.http.app`; a handler names what it needs,
e.g. `runtime: RuntimeDependency`, `tenants: Tenants` or `events: Events`.
"""

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from clarion.events.directory import EventDirectory
from clarion.organizations.services import TenantDirectory
from clarion.process import Runtime

RuntimeDependency = NamedDependency[SkipValidation[Runtime]]
Tenants = NamedDependency[SkipValidation[TenantDirectory]]
Events = NamedDependency[SkipValidation[EventDirectory]]


def provide_runtime(state: State) -> Runtime:
    return state.runtime  # type: ignore[no-any-return]


def provide_tenants(state: State) -> TenantDirectory:
    """The app's `TenantDirectory` (created on first use)."""
    tenants = state.get("tenants")
    if tenants is None:
        tenants = state["tenants"] = TenantDirectory(ttl_s=provide_runtime(state).settings.cache.directory_s)
    return tenants  # type: ignore[no-any-return]


def provide_events(state: State) -> EventDirectory:
    """The app's `EventDirectory`, on its `TenantDirectory` (created on first use)."""
    events = state.get("events")
    if events is None:
        ttl_s = provide_runtime(state).settings.cache.directory_s
        events = state["events"] = EventDirectory(provide_tenants(state), ttl_s=ttl_s)
    return events  # type: ignore[no-any-return]
