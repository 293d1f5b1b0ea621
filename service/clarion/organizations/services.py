"""Resolving the slugs of a path to rows (cached ≤ 1 s), and the organization/project/application reads.

`TenantDirectory` turns `org` / `prj` / `app` slugs into small immutable refs
(ids, names, flags) with one query per miss, served from a `TtlCache` for at
most a second: a locked, deactivated or paused parent is seen within a second.
Unknown slugs are 404 naming the first level that does not exist. Events are
resolved the same way by `clarion.events.directory`.

Controllers get the process's directory as the `tenants` dependency
(`clarion.http.dependencies.provide_tenants`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from piccolo.columns import ForeignKey

from clarion.cache import TtlCache
from clarion.errors import NotFound
from clarion.organizations.schemas import ApplicationOut, OrganizationOut, ProjectOut
from clarion.organizations.tables import Application, Organization, Project
from clarion.pagination import Page, PageRequest, page_of_query

SLUG_CACHE_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class Flags:
    active: bool
    locked: bool
    paused: bool


@dataclass(frozen=True, slots=True)
class OrganizationRef:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: int
    slug: str
    name: str
    flags: Flags
    organization_id: int


@dataclass(frozen=True, slots=True)
class ApplicationRef:
    id: int
    slug: str
    name: str
    flags: Flags
    project_id: int
    organization_id: int


SlugPath = tuple[str, ...]


class TenantDirectory:
    """Slugs → refs, each cached for at most `SLUG_CACHE_TTL_S` seconds (misses too)."""

    def __init__(self, *, ttl_s: float = SLUG_CACHE_TTL_S) -> None:
        self._cache: TtlCache[SlugPath, Any] = TtlCache(_load, ttl_s=ttl_s)
        self._on_forget: list[Callable[[], None]] = []

    async def organization(self, org: str) -> OrganizationRef:
        ref = await self._cache.get((org,))
        if ref is None:
            raise NotFound(f"unknown organization {org!r}")
        return ref  # type: ignore[no-any-return]

    async def project(self, org: str, prj: str) -> ProjectRef:
        ref = await self._cache.get((org, prj))
        if ref is None:
            await self.organization(org)
            raise NotFound(f"unknown project {prj!r}")
        return ref  # type: ignore[no-any-return]

    async def application(self, org: str, prj: str, app: str) -> ApplicationRef:
        ref = await self._cache.get((org, prj, app))
        if ref is None:
            await self.project(org, prj)
            raise NotFound(f"unknown application {app!r}")
        return ref  # type: ignore[no-any-return]

    def forget(self) -> None:
        """Drop every cached ref, and those resolved through this directory (`on_forget`): this
        process sees a management change at once (others within the TTL)."""
        self._cache.clear()
        for forget in self._on_forget:
            forget()

    def on_forget(self, forget: Callable[[], None]) -> None:
        """Call `forget` too when this directory forgets (a directory of what lies below)."""
        self._on_forget.append(forget)


def uncached_directory() -> TenantDirectory:
    """A directory that reads the database on every lookup (management checks what it changes)."""
    return TenantDirectory(ttl_s=0.0)


async def _load(path: SlugPath) -> Any:
    if len(path) == 1:
        return await _load_organization(*path)
    if len(path) == 2:
        return await _load_project(*path)
    return await _load_application(*path)


async def _load_organization(org: str) -> OrganizationRef | None:
    row = await Organization.select(Organization.id, Organization.slug, Organization.name).where(
        Organization.slug == org
    ).first()
    return OrganizationRef(row["id"], row["slug"], row["name"]) if row else None


async def _load_project(org: str, prj: str) -> ProjectRef | None:
    row = await (
        Project.select(
            Project.id,
            Project.slug,
            Project.name,
            Project.active,
            Project.locked,
            Project.paused,
            Project.organization.id.as_alias("organization_id"),
        )
        .where((Project.slug == prj) & (Project.organization.slug == org))
        .first()
    )
    if row is None:
        return None
    return ProjectRef(row["id"], row["slug"], row["name"], flags_of(row), row["organization_id"])


async def _load_application(org: str, prj: str, app: str) -> ApplicationRef | None:
    project = Application.project
    row = await (
        Application.select(
            Application.id,
            Application.slug,
            Application.name,
            Application.active,
            Application.locked,
            Application.paused,
            project.id.as_alias("project_id"),
            project.organization.id.as_alias("organization_id"),
        )
        .where((Application.slug == app) & (project.slug == prj) & (project.organization.slug == org))
        .first()
    )
    if row is None:
        return None
    return ApplicationRef(
        row["id"], row["slug"], row["name"], flags_of(row), row["project_id"], row["organization_id"]
    )


def flags_of(row: dict[str, Any], prefix: str = "") -> Flags:
    return Flags(bool(row[f"{prefix}active"]), bool(row[f"{prefix}locked"]), bool(row[f"{prefix}paused"]))


def refusal_of(levels: tuple[tuple[str, Flags], ...]) -> str | None:
    for what, flags in levels:
        if not flags.active:
            return f"{what} is inactive"
        if flags.locked:
            return f"{what} is locked"
    return None


# The reads of SPEC §3.2 -------------------------------------------------------------------------


async def read_organization(tenants: TenantDirectory, org: str) -> OrganizationOut:
    ref = await tenants.organization(org)
    return OrganizationOut(slug=ref.slug, name=ref.name)


async def read_project(tenants: TenantDirectory, org: str, prj: str) -> ProjectOut:
    ref = await tenants.project(org, prj)
    return ProjectOut(slug=ref.slug, name=ref.name, **_flag_fields(ref.flags))


async def read_application(tenants: TenantDirectory, org: str, prj: str, app: str) -> ApplicationOut:
    ref = await tenants.application(org, prj, app)
    return ApplicationOut(slug=ref.slug, name=ref.name, **_flag_fields(ref.flags))


async def list_projects(
    tenants: TenantDirectory, org: str, page: PageRequest, *, only: str | None = None
) -> Page[ProjectOut]:
    """The organization's projects (`only` that one, for a key narrowed to it)."""
    ref = await tenants.organization(org)
    return await _list_flagged(Project, Project.organization, ref.id, only, page, ProjectOut)


async def list_applications(
    tenants: TenantDirectory, org: str, prj: str, page: PageRequest, *, only: str | None = None
) -> Page[ApplicationOut]:
    """The project's applications (`only` that one, for a key narrowed to it)."""
    ref = await tenants.project(org, prj)
    return await _list_flagged(Application, Application.project, ref.id, only, page, ApplicationOut)


FlaggedOut = TypeVar("FlaggedOut", ProjectOut, ApplicationOut)


async def _list_flagged(
    table: type[Project] | type[Application],
    parent: ForeignKey,
    parent_id: int,
    only: str | None,
    page: PageRequest,
    out: type[FlaggedOut],
) -> Page[FlaggedOut]:
    """One page of `table`'s rows under `parent_id` (only the one with slug `only`, if given)."""
    query = table.select(table.slug, table.name, table.active, table.locked, table.paused).where(parent == parent_id)
    if only is not None:
        query = query.where(table.slug == only)
    rows = await page_of_query(query, page, key=table.slug)
    return rows.map(lambda row: out(**_row_fields(row)))


def _flag_fields(flags: Flags) -> dict[str, bool]:
    return {"active": flags.active, "locked": flags.locked, "paused": flags.paused}


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": row["slug"],
        "name": row["name"],
        "active": bool(row["active"]),
        "locked": bool(row["locked"]),
        "paused": bool(row["paused"]),
    }
