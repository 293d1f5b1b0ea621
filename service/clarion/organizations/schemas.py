"""Bodies of the organization, project and application reads, and of their management (SPEC §3.3)."""

from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from clarion.schemas import Name, Request, Response, Slug


class OrganizationOut(Response):
    slug: str
    name: str


class _Flagged(Response):
    slug: str
    name: str
    active: bool
    locked: bool
    paused: bool


class ProjectOut(_Flagged):
    pass


class ApplicationOut(_Flagged):
    pass


# Management (SPEC §3.3, `admin`) -------------------------------------------------------------

Description = Annotated[str, Meta(max_length=10_000)]


class FlaggedIn(Request):
    """Create a project or an application: `slug` unique within the parent."""

    slug: Slug
    name: Name
    active: bool = True
    locked: bool = False
    paused: bool = False


class FlaggedPatch(Request):
    """Change a project or an application: only the fields given change (the slug never does)."""

    name: Name | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    locked: bool | UnsetType = UNSET
    paused: bool | UnsetType = UNSET


class EventIn(FlaggedIn):
    description: Description = ""


class EventPatch(FlaggedPatch):
    description: Description | UnsetType = UNSET


class EventDetailOut(_Flagged):
    description: str
