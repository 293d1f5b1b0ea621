"""Events of an application: the named things that can happen and be triggered."""

from piccolo.columns import Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.readable import Readable
from piccolo.table import Table

from clarion.organizations.tables import SLUG_LENGTH, Application


class Event(Table):
    """A named thing that can happen in an application and be triggered."""

    application = ForeignKey(Application, null=False)
    slug = Varchar(length=SLUG_LENGTH)
    name = Varchar(length=255)
    description = Text(default="")
    active = Boolean(default=True)
    locked = Boolean(default=False)
    paused = Boolean(default=False)
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.slug])
