"""Bodies of the notification and template management endpoints."""

from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from clarion.schemas import ChannelName, Id, Name, Request, Response

EnvironmentName = Annotated[str, Meta(min_length=1, max_length=100)]
ChannelNames = Annotated[list[ChannelName], Meta(max_length=100)]
EnvironmentNames = Annotated[list[EnvironmentName], Meta(max_length=100)]


class NotificationIn(Request):
    """`channels` empty: every channel that can reach the members; `environments` empty: all of them."""

    name: Name
    distribution_list: Id | None = None
    channels: ChannelNames = []
    environments: EnvironmentNames = []
    active: bool = True


class NotificationPatch(Request):
    name: Name | UnsetType = UNSET
    distribution_list: Id | None | UnsetType = UNSET
    channels: ChannelNames | UnsetType = UNSET
    environments: EnvironmentNames | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class TemplateIn(Request):
    """A template's parts; a part that is not given (or null) is absent."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None


class TemplateOut(Response):
    channel: str
    subject: str | None
    text: str | None
    html: str | None


class NotificationOut(Response):
    id: int
    name: str
    distribution_list: int | None
    channels: list[str]
    environments: list[str]
    active: bool


class NotificationDetailOut(NotificationOut):
    """One notification with its own templates (the event's fallbacks are not included)."""

    templates: list[TemplateOut]
