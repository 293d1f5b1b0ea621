"""Request and response bodies of the distribution list and subscription API."""

from clarion.schemas import AddressValue, Id, Name, Request, Response, Slug


class ListCreate(Request):
    name: Name
    application: Slug | None = None  # pin to this application of the project


class ListOut(Response):
    id: int
    name: str
    application: str | None  # slug of the application it is pinned to


class MemberOut(Response):
    id: int  # the assignment's id
    user: str  # username
    address: str  # the address's value
    address_name: str
    channel: str
    active: bool


class AddResult(Response):
    added: list[MemberOut]  # assignments now in the list that were not before
    already: list[int]  # assignment ids that were members already
    unassigned: list[str]  # values of addresses found but assigned to no channel


AddressValues = list[AddressValue]


class SubscribeRequest(Request):
    assignment: Id
    active: bool = True


class UnsubscribeRequest(Request):
    assignment: Id


class SubscriptionOut(Response):
    id: int
    notification: int
    assignment: int
    active: bool


class Unsubscribed(Response):
    deleted: int
