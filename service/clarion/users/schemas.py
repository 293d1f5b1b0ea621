"""Request and response bodies of the users, addresses and assignments API (and of `register`)."""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from clarion.schemas import (
    AddressKindName,
    AddressName,
    AddressValue,
    ChannelName,
    JsonObject,
    Name,
    Request,
    Response,
    Username,
)
from clarion.channels.addresses import check_email

Email = Annotated[str, Meta(max_length=254)]  # "" (no e-mail) or a mailbox: `check_email` in `__post_init__`
PersonName = Annotated[str, Meta(max_length=150)]
Secret = Annotated[str, Meta(min_length=1, max_length=255)]
CustomFieldsMode = Literal["ignore", "merge", "override", "remove", "rewrite"]
CUSTOM_FIELDS_MODES: tuple[str, ...] = ("ignore", "merge", "override", "remove", "rewrite")


class UserCreate(Request):
    """`POST …/u/`: `username` defaults to `email` (the existing client sends no username)."""

    username: Username | None = None
    email: Email = ""
    first_name: PersonName = ""
    last_name: PersonName = ""
    custom_fields: JsonObject | None = None
    locked: bool = False

    def __post_init__(self) -> None:
        check_email(self.email)


class UserReplace(Request):
    """`PUT …/u/{username}/`: every field not given is reset to its default."""

    email: Email = ""
    first_name: PersonName = ""
    last_name: PersonName = ""
    custom_fields: JsonObject | None = None
    locked: bool = False
    mode: CustomFieldsMode | UnsetType = msgspec.field(default=UNSET, name="_mode")

    def __post_init__(self) -> None:
        check_email(self.email)


class UserUpdate(Request):
    """`PATCH …/u/{username}/`: only the fields given change."""

    email: Email | UnsetType = UNSET
    first_name: PersonName | UnsetType = UNSET
    last_name: PersonName | UnsetType = UNSET
    custom_fields: JsonObject | None | UnsetType = UNSET
    locked: bool | UnsetType = UNSET
    mode: CustomFieldsMode | UnsetType = msgspec.field(default=UNSET, name="_mode")

    def __post_init__(self) -> None:
        check_email(self.email)


class UserOut(Response):
    username: str
    email: str
    first_name: str
    last_name: str
    locked: bool
    is_active: bool  # = not locked; the existing client's user list shows it
    custom_fields: dict[str, Any]
    created: datetime | None = None


class AddressCreate(Request):
    name: AddressName
    value: AddressValue
    kind: AddressKindName | None = None
    """Default: derived from the value (a mailbox, an http(s) URL, an E.164 number, an Apprise URL, …)."""


class AddressOut(Response):
    id: int
    name: str
    value: str
    kind: str


class AssignmentCreate(Request):
    address: AddressName
    channel: ChannelName
    secret: Secret | None = None
    active: bool = True


class AssignmentOut(Response):
    id: int
    address: str  # the address's name
    value: str
    kind: str
    channel: str
    active: bool


class RegisterAddress(Request):
    value: AddressValue
    name: AddressName | None = None
    kind: AddressKindName | None = None
    assign_to_preferred_channel: bool = False


class RegisterRequest(Request):
    username: Username
    first_name: PersonName = ""
    last_name: PersonName = ""
    email: Email = ""
    custom_fields: JsonObject | None = None
    active: bool = True
    addresses: list[RegisterAddress] = []
    distribution_list: Name | None = None

    def __post_init__(self) -> None:
        check_email(self.email)


class MembershipOut(Response):
    application: str
    custom_fields: dict[str, Any]
    active: bool


class ListRef(Response):
    id: int
    name: str
    application: str | None


class RegisterResponse(Response):
    user: UserOut
    created: bool
    membership: MembershipOut
    addresses: list[AddressOut]
    assignments: list[AssignmentOut]
    distribution_list: ListRef | None


class UnregisterResponse(Response):
    deleted: int  # distribution-list memberships removed (the source system's count)
    memberships: int  # application memberships removed (0 or 1)
    subscriptions: int  # subscriptions to notifications of the application's events removed
