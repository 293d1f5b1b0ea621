"""Accepted triggers (occurrences), the deliveries they expand into, and remembered idempotent answers."""

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from clarion.auth.tables import ApiKey
from clarion.events.tables import Event
from clarion.notifications.tables import Notification
from clarion.users.tables import Assignment

ID_LENGTH = 26


class Occurrence(Table):
    """One accepted trigger of an event; `id` is a ULID, so ids sort by creation time."""

    id = Varchar(length=ID_LENGTH, primary_key=True)
    event = ForeignKey(Event, null=False)
    context = JSON(default="{}")
    options = JSON(default="{}")
    correlation_id = Varchar(length=255, null=True, default=None)
    status = Varchar(length=16, default="pending")
    recipients = Integer(default=0)
    error = Text(null=True, default=None)
    claimed_by = Varchar(length=64, null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    created = Timestamptz()
    updated = Timestamptz()


class Delivery(Table):
    """One message for one (occurrence, assignment, notification); that triple is unique."""

    id = Varchar(length=ID_LENGTH, primary_key=True)
    occurrence = ForeignKey(Occurrence, null=False)
    assignment = ForeignKey(Assignment, null=False)
    notification = ForeignKey(Notification, null=False)
    channel = Varchar(length=63)
    address = Varchar(length=2048)
    status = Varchar(length=16, default="pending")
    reason = Varchar(length=64, null=True, default=None)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    provider_id = Varchar(length=255, null=True, default=None)
    subject = Text(null=True, default=None)
    text = Text(null=True, default=None)
    html = Text(null=True, default=None)
    claimed_by = Varchar(length=64, null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    created = Timestamptz()
    updated = Timestamptz()


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
