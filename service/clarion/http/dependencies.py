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
    """The process's `TenantDirectory`."""
    return provide_runtime(state).tenants


def provide_events(state: State) -> EventDirectory:
    """The process's `EventDirectory`, on its `TenantDirectory`."""
    return provide_runtime(state).events
