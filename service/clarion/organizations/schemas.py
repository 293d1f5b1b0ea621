"""Response bodies of the organization, project and application reads."""

from clarion.schemas import Response


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
