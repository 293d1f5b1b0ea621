"""Users of an organization, their addresses and the channels those are assigned to."""

from piccolo.columns import JSON, Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.readable import Readable
from piccolo.table import Table

from clarion.organizations.tables import Application, Organization


class User(Table, tablename="clarion_user"):
    """A person who can be notified; belongs to one organization."""

    organization = ForeignKey(Organization, null=False)
    username = Varchar(length=150)
    email = Varchar(length=254, default="")
    first_name = Varchar(length=150, default="")
    last_name = Varchar(length=150, default="")
    locked = Boolean(default=False)
    custom_fields = JSON(default="{}")
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.username])



class Address(Table):
    """A user's contact point; `kind` (email, url, phone, other) is derived from `value`."""

    user = ForeignKey(User, null=False)
    name = Varchar(length=100)
    value = Varchar(length=2048)
    kind = Varchar(length=16)
    created = Timestamptz()



class Assignment(Table):
    """An address bound to one configured channel: the unit a message is delivered to."""

    address = ForeignKey(Address, null=False)
    channel = Varchar(length=63)
    active = Boolean(default=True)
    secret = Varchar(length=255, null=True, default=None)
    created = Timestamptz()



class ApplicationMembership(Table):
    """A user registered with an application, with the application's own custom fields."""

    application = ForeignKey(Application, null=False)
    user = ForeignKey(User, null=False)
    custom_fields = JSON(default="{}")
    active = Boolean(default=True)
    created = Timestamptz()

