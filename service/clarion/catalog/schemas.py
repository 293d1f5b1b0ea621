"""The catalog file (`clarion apply FILE`): organizations and everything inside them."""

from datetime import datetime

import msgspec

from clarion.auth.schemas import KeyRateLimit
from clarion.schemas import (
    AddressKindName,
    AddressName,
    AddressValue,
    ChannelName,
    JsonObject,
    Name,
    Request,
    Slug,
    Username,
    check_utc_representable,
)
from clarion.channels.addresses import check_email


class CatalogAddress(Request):
    name: AddressName
    value: AddressValue
    kind: AddressKindName | None = None
    """Default: derived from the value, as over the API."""


class CatalogAssignment(Request):
    """An address of the user bound to a channel; `secret` signs webhooks to it."""

    address: AddressName
    channel: ChannelName
    active: bool = True
    secret: str | None = None


class CatalogUser(Request):
    username: Username
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    locked: bool = False
    custom_fields: JsonObject = {}
    addresses: list[CatalogAddress] = []
    assignments: list[CatalogAssignment] = []

    def __post_init__(self) -> None:
        check_email(self.email)


class CatalogMember(Request):
    """A user's address on a channel; the assignment is created when missing."""

    user: Username
    address: AddressName
    channel: ChannelName


class CatalogDistributionList(Request):
    name: Name
    application: Slug | None = None
    members: list[CatalogMember] = []


class CatalogTemplate(Request):
    subject: str | None = None
    text: str | None = None
    html: str | None = None


class CatalogNotification(Request):
    name: Name
    distribution_list: Name | None = None
    channels: list[ChannelName] = []
    environments: list[str] = []
    active: bool = True
    filter: JsonObject = {}
    templates: dict[ChannelName, CatalogTemplate] = {}
    subscribers: list[CatalogMember] = []


class _Flags(Request):
    active: bool = True
    locked: bool = False
    paused: bool = False


class CatalogEvent(_Flags, kw_only=True):
    slug: Slug
    name: Name
    description: str = ""
    templates: dict[ChannelName, CatalogTemplate] = {}
    notifications: list[CatalogNotification] = []


class CatalogApplication(_Flags, kw_only=True):
    slug: Slug
    name: Name
    events: list[CatalogEvent] = []


class CatalogProject(_Flags, kw_only=True):
    slug: Slug
    name: Name
    distribution_lists: list[CatalogDistributionList] = []
    applications: list[CatalogApplication] = []


class CatalogApiKey(Request):
    name: Name
    project: Slug | None = None
    application: Slug | None = None
    grants: list[str] = []
    expires_at: datetime | None = None
    active: bool = True
    rate_limit: KeyRateLimit | None = None
    """The key's own rate limit; None: `[rate_limit]` of the configuration applies."""

    def __post_init__(self) -> None:
        check_utc_representable(self.expires_at, "expires_at")


class CatalogOrganization(Request):
    slug: Slug
    name: Name
    users: list[CatalogUser] = []
    projects: list[CatalogProject] = []
    api_keys: list[CatalogApiKey] = []


class Catalog(Request):
    organizations: list[CatalogOrganization] = msgspec.field(default_factory=list)


class ApplyResult(msgspec.Struct, kw_only=True):
    api_keys: dict[str, str] = {}
    """The tokens of the keys created, by "<org>/<name>"."""
    revoked_keys: list[str] = []
    """Keys the catalog lists as active that are revoked: apply never reactivates a key."""
