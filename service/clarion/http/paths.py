"""One dependency per level of a path: `organization`, `project`, `application`, `event`.

Each takes the level's slugs from the path (`org`, `prj`, `app`, `evt`), looks
them up — 404 naming the first level that does not exist — and gives the
handler the level's path (`OrganizationPath`, …, `EventPath`), which the
services take. The lookups go through the process's directories, cached for at
most a second, so the services' own lookups of the same slugs cost nothing.

Items below a level that a body is decoded after (a route's
`decoded(..., after="user")`) have a dependency too, which only checks that
the item exists (404): `user`, `distribution_list`, `event_notification`,
`application_notification`.

Guards run before any dependency (401, 403); request bodies are decoded by a
dependency that depends on the level (`clarion.http.body.decoded`), so a 404
comes before a 400.
"""

from dataclasses import dataclass

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, SkipValidation

from clarion.catalog.notifications import check_notification
from clarion.distribution.services import read_list
from clarion.events.services import EventPath
from clarion.http.dependencies import RuntimeDependency, Tenants
from clarion.http.guards import principal_of
from clarion.notifications.subscriptions import application_notification
from clarion.users.services import read_user


@dataclass(frozen=True, slots=True)
class OrganizationPath:
    org: str


@dataclass(frozen=True, slots=True)
class ProjectPath:
    org: str
    prj: str


@dataclass(frozen=True, slots=True)
class ApplicationPath:
    org: str
    prj: str
    app: str


OrganizationAt = NamedDependency[SkipValidation[OrganizationPath]]
ProjectAt = NamedDependency[SkipValidation[ProjectPath]]
ApplicationAt = NamedDependency[SkipValidation[ApplicationPath]]
EventAt = NamedDependency[SkipValidation[EventPath]]


async def provide_organization(org: FromPath[str], tenants: Tenants) -> OrganizationPath:
    await tenants.organization(org)
    return OrganizationPath(org)


async def provide_project(org: FromPath[str], prj: FromPath[str], tenants: Tenants) -> ProjectPath:
    await tenants.project(org, prj)
    return ProjectPath(org, prj)


async def provide_application(
    org: FromPath[str], prj: FromPath[str], app: FromPath[str], tenants: Tenants
) -> ApplicationPath:
    await tenants.application(org, prj, app)
    return ApplicationPath(org, prj, app)


async def provide_event(
    org: FromPath[str], prj: FromPath[str], app: FromPath[str], evt: FromPath[str], runtime: RuntimeDependency
) -> EventPath:
    # `runtime`, not `events`: the trigger needs the runtime too, and Litestar resolves two dependencies
    # of one level in an anyio task group, a cost the trigger (the hot path) should not pay per request
    await runtime.events.event(org, prj, app, evt)
    return EventPath(org, prj, app, evt)


async def provide_user(organization: OrganizationAt, username: FromPath[str], tenants: Tenants) -> None:
    await read_user(tenants, organization.org, username)


async def provide_distribution_list(
    request: Request[Any, Any, Any], project: ProjectAt, pk: FromPath[int], tenants: Tenants
) -> None:
    await read_list(tenants, principal_of(request), project.org, project.prj, pk)


async def provide_event_notification(event: EventAt, pk: FromPath[int]) -> None:
    await check_notification(event, pk)


async def provide_application_notification(application: ApplicationAt, pk: FromPath[int], tenants: Tenants) -> None:
    await application_notification(tenants, application.org, application.prj, application.app, pk)


PATH_DEPENDENCIES = {
    "organization": Provide(provide_organization),
    "project": Provide(provide_project),
    "application": Provide(provide_application),
    "event": Provide(provide_event),
    "user": Provide(provide_user),
    "distribution_list": Provide(provide_distribution_list),
    "event_notification": Provide(provide_event_notification),
    "application_notification": Provide(provide_application_notification),
}
