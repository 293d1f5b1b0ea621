"""The tenant hierarchy: Organization → Project → Application (events: `clarion.events.tables`)."""

from piccolo.columns import Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.readable import Readable
from piccolo.table import Table

SLUG_LENGTH = 100


class Organization(Table):
    """A tenant; every API key, user and project lives inside one."""

    slug = Varchar(length=SLUG_LENGTH, unique=True)
    name = Varchar(length=255)
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.slug])


class Project(Table):
    """A group of applications inside an organization; owns distribution lists."""

    organization = ForeignKey(Organization, null=False)
    slug = Varchar(length=SLUG_LENGTH)
    name = Varchar(length=255)
    active = Boolean(default=True)
    locked = Boolean(default=False)
    paused = Boolean(default=False)
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.slug])


class Application(Table):
    """A client system that triggers events."""

    project = ForeignKey(Project, null=False)
    slug = Varchar(length=SLUG_LENGTH)
    name = Varchar(length=255)
    active = Boolean(default=True)
    locked = Boolean(default=False)
    paused = Boolean(default=False)
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.slug])
