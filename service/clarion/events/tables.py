"""Events of an application, and the remembered answers to idempotent triggers of them."""

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from clarion.auth.tables import ApiKey
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


class IdempotencyRecord(Table):
    """The first answer to an `Idempotency-Key`, replayed for identical repeats."""

    api_key = ForeignKey(ApiKey, null=False)
    event = ForeignKey(Event, null=False)
    key = Varchar(length=255)
    request_hash = Varchar(length=64)
    state = Varchar(length=16, default="in_flight")
    response_status = Integer(null=True, default=None)
    response_body = Text(null=True, default=None)
    created = Timestamptz()
    expires_at = Timestamptz()
