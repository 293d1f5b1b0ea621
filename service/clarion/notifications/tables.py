"""What an event sends: its notifications, direct subscriptions to them, and message templates."""

from piccolo.columns import JSON, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.readable import Readable
from piccolo.table import Table

from clarion.distribution.tables import DistributionList
from clarion.events.tables import Event
from clarion.users.tables import Assignment


class Notification(Table):
    """Which distribution list hears an event, on which channels, in which environments."""

    event = ForeignKey(Event, null=False)
    name = Varchar(length=255)
    distribution_list = ForeignKey(DistributionList, null=True, default=None)
    channels = JSON(default="[]")
    environments = JSON(default="[]")
    context_filter = JSON(default="{}")
    active = Boolean(default=True)
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.name])


class Subscription(Table):
    """An assignment subscribed directly to a notification."""

    notification = ForeignKey(Notification, null=False)
    assignment = ForeignKey(Assignment, null=False)
    active = Boolean(default=True)
    created = Timestamptz()


class Template(Table):
    """Message templates per (notification, channel), or per (event, channel) when `notification` is null."""

    event = ForeignKey(Event, null=False)
    notification = ForeignKey(Notification, null=True, default=None)
    channel = Varchar(length=63)
    subject = Text(null=True, default=None)
    text = Text(null=True, default=None)
    html = Text(null=True, default=None)
    created = Timestamptz()
