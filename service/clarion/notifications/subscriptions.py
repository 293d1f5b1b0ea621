"""Direct subscriptions of assignments to an application's notifications (SPEC §3.2)."""

import msgspec

from clarion.db.engine import write_transaction
from clarion.distribution.schemas import SubscribeRequest, SubscriptionOut, Unsubscribed, UnsubscribeRequest
from clarion.errors import BadRequest, NotFound
from clarion.notifications.tables import Notification, Subscription
from clarion.organizations.services import TenantDirectory
from clarion.schemas import MAX_ID, Id
from clarion.users.tables import Assignment


async def application_notification(tenants: TenantDirectory, org: str, prj: str, app: str, pk: int) -> tuple[int, int]:
    """(notification id, organization id); 404 unless it belongs to an event of the application."""
    application = await tenants.application(org, prj, app)
    row = await Notification.select(Notification.id).where(
        (Notification.id == pk) & (Notification.event.application == application.id)
    ).first()
    if row is None:
        raise NotFound(f"unknown notification {pk}")
    return row["id"], application.organization_id


async def _check_assignment(organization_id: int, assignment_id: int) -> None:
    if not await Assignment.exists().where(
        (Assignment.id == assignment_id) & (Assignment.address.user.organization == organization_id)
    ):
        raise BadRequest(f"assignment: no assignment {assignment_id} in this organization")


async def subscribe(
    tenants: TenantDirectory, org: str, prj: str, app: str, pk: int, request: SubscribeRequest
) -> tuple[SubscriptionOut, bool]:
    """Subscribe (or re-activate); also says whether the subscription is new."""
    notification_id, organization_id = await application_notification(tenants, org, prj, app, pk)
    await _check_assignment(organization_id, request.assignment)
    condition = (Subscription.notification == notification_id) & (Subscription.assignment == request.assignment)
    async with write_transaction():
        row = await Subscription.select(Subscription.id).where(condition).first()
        if row is None:
            rows = await Subscription.insert(
                Subscription(notification=notification_id, assignment=request.assignment, active=request.active)
            ).returning(Subscription.id)
            subscription_id, created = rows[0]["id"], True
        else:
            await Subscription.update({Subscription.active: request.active}).where(condition)
            subscription_id, created = row["id"], False
    out = SubscriptionOut(
        id=subscription_id, notification=notification_id, assignment=request.assignment, active=request.active
    )
    return out, created


async def unsubscribe(
    tenants: TenantDirectory,
    org: str,
    prj: str,
    app: str,
    pk: int,
    request: UnsubscribeRequest | None,
    query_assignment: str | None,
) -> Unsubscribed:
    notification_id, organization_id = await application_notification(tenants, org, prj, app, pk)
    if request is not None:
        assignment = request.assignment
    elif query_assignment is not None:
        try:
            assignment = msgspec.convert(query_assignment, Id, strict=False)
        except msgspec.ValidationError:
            raise BadRequest(f"assignment: expected an id (an integer from 1 to {MAX_ID})") from None
    else:
        raise BadRequest("assignment: required (in the body or as ?assignment=)")
    await _check_assignment(organization_id, assignment)
    condition = (Subscription.notification == notification_id) & (Subscription.assignment == assignment)
    async with write_transaction():
        count: int = await Subscription.count().where(condition)
        if count:
            await Subscription.delete().where(condition)
    return Unsubscribed(deleted=count)
