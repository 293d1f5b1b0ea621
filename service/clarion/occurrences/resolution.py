"""Who hears an occurrence (SPEC §4, §5.1): notifications, recipients, channels, filters.

The pipeline, in order:

1. the event's active notifications;
2. `options.environs`: only notifications whose `environments` intersect them
   (a notification without environments is for every environment);
3. the notification's own `context_filter` (rules over the trigger context);
4. recipients: active assignments in the notification's distribution list and
   active direct subscriptions (one recipient per assignment and notification);
5. users that are `locked` get nothing;
6. channel selection: the assignment's channel must be allowed by the
   notification (`channels` empty = all) and by `options.channels`;
7. `options.limit_to`: only assignments whose address value is listed;
8. `options.filters`: include / exclude rules over user fields.

Loading from the database (`clarion.occurrences.store.recipients`) is separate
from deciding, so the decisions are pure functions (`resolve_recipients`) that
unit tests drive directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from clarion.occurrences.schemas import FILTER_FIELDS, FilterRules, TriggerOptions

CUSTOM_FIELDS_PREFIX = "custom_fields."

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


class _Missing:
    """A value that is not there (a missing user field or context path): it matches nothing."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# --- what the database holds --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Named:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class EventScope:
    """An event and its parents: what templates see as `event`, `application`, `project`, `organization`."""

    event_id: int
    application_id: int
    event: Named
    application: Named
    project: Named
    organization: Named

    def template_names(self) -> dict[str, dict[str, str]]:
        return {
            key: {"slug": value.slug, "name": value.name}
            for key, value in (
                ("event", self.event),
                ("application", self.application),
                ("project", self.project),
                ("organization", self.organization),
            )
        }


@dataclass(frozen=True, slots=True)
class NotificationRule:
    id: int
    name: str
    distribution_list: int | None
    channels: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    context_filter: Any = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserFields:
    username: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    locked: bool = False

    def value(self, name: str) -> Any:
        """A filterable field: one of FILTER_FIELDS or `custom_fields.<dotted.path>`; MISSING otherwise."""
        if name in FILTER_FIELDS:
            return getattr(self, name)
        if name.startswith(CUSTOM_FIELDS_PREFIX):
            return lookup_path(self.custom_fields, name.removeprefix(CUSTOM_FIELDS_PREFIX))
        return MISSING

    def as_recipient(self) -> dict[str, str]:
        return {
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """An assignment that hears a notification through its list or a subscription."""

    notification: int
    assignment: int
    channel: str
    address: str
    secret: str | None
    user: UserFields


Recipient = Candidate
"""A candidate that survived every step of the pipeline."""


# --- pure decisions ---------------------------------------------------------------------


def lookup_path(data: Any, path: str) -> Any:
    """`a.b.0.c` in nested mappings and lists; MISSING when any step is absent."""
    current = data
    for key in path.split("."):
        if isinstance(current, Mapping) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return MISSING
    return current


def fill_placeholders(value: Any, context: Mapping[str, Any]) -> Any:
    """Replace `{{ dotted.path }}` in rule values with values from `context` (not Jinja).

    A string that is exactly one placeholder becomes the context value itself
    (keeping its type: a list then means membership); placeholders inside a
    longer string are replaced by their text. A missing path yields MISSING,
    which matches nothing.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return lookup_path(context, whole.group(1))
        if "{{" not in value:
            return value
        missing = False

        def text_of(match: re.Match[str]) -> str:
            nonlocal missing
            found = lookup_path(context, match.group(1))
            if found is MISSING:
                missing = True
                return ""
            return found if isinstance(found, str) else msgspec.json.encode(found).decode()

        filled = _PLACEHOLDER.sub(text_of, value)
        return MISSING if missing else filled
    if isinstance(value, list):
        return [fill_placeholders(item, context) for item in value]
    return value


def _equal(expected: Any, actual: Any) -> bool:
    # JSON's true is not 1: compare booleans only with booleans.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def value_matches(expected: Any, actual: Any) -> bool:
    """A rule value against a field value.

    A list of expected values means "any of these"; a list-valued field matches
    when it contains the expected value; MISSING on either side matches nothing.
    """
    if expected is MISSING or actual is MISSING:
        return False
    if isinstance(expected, list):
        return any(value_matches(item, actual) for item in expected)
    if isinstance(actual, list):
        return any(_equal(expected, item) for item in actual)
    return _equal(expected, actual)


def rules_match(rules: Any, value_of: Any, context: Mapping[str, Any]) -> bool:
    """A mapping of field → value (all must match) or a list of mappings (any must match).

    `value_of(name)` gives the field's value. Callers treat empty rules
    themselves (empty include: everyone; empty exclude: no one).
    """
    if isinstance(rules, list):
        return any(rules_match(rule, value_of, context) for rule in rules if rule)
    if isinstance(rules, Mapping):
        return all(
            value_matches(fill_placeholders(expected, context), value_of(name))
            for name, expected in rules.items()
        )
    return False


def user_selected(user: UserFields, include: FilterRules | None, exclude: FilterRules | None, context: Mapping[str, Any]) -> bool:
    """`options.filters`: missing or empty `include` is everyone; missing or empty `exclude` is no one."""
    if include and not rules_match(include, user.value, context):
        return False
    if exclude and rules_match(exclude, user.value, context):
        return False
    return True


def context_selected(context_filter: Any, context: Mapping[str, Any]) -> bool:
    """A notification's own filter: rules whose keys are dotted paths into the trigger context."""
    if not context_filter:
        return True
    return rules_match(context_filter, lambda path: lookup_path(context, path), context)


def select_notifications(
    notifications: Iterable[NotificationRule], options: TriggerOptions, context: Mapping[str, Any]
) -> list[NotificationRule]:
    """Steps 2–3: environments and each notification's context filter (all are active already)."""
    environs = set(options.environs or ())
    return [
        notification
        for notification in notifications
        if (not environs or not notification.environments or environs.intersection(notification.environments))
        and context_selected(notification.context_filter, context)
    ]


def channel_allowed(channel: str, notification: NotificationRule, options: TriggerOptions) -> bool:
    """Step 6: the assignment fixes the channel; the notification and the trigger may only narrow."""
    if notification.channels and channel not in notification.channels:
        return False
    return not options.channels or channel in options.channels


def resolve_recipients(
    notifications: Sequence[NotificationRule],
    candidates: Iterable[Candidate],
    options: TriggerOptions,
    context: Mapping[str, Any],
) -> list[Recipient]:
    """Steps 2–8 over loaded data: the recipients, one per (notification, assignment)."""
    selected = {notification.id: notification for notification in select_notifications(notifications, options, context)}
    limit_to = set(options.limit_to or ())
    include = options.filters.include if options.filters else None
    exclude = options.filters.exclude if options.filters else None
    recipients: dict[tuple[int, int], Recipient] = {}
    for candidate in candidates:
        notification = selected.get(candidate.notification)
        if notification is None or (candidate.notification, candidate.assignment) in recipients:
            continue
        if candidate.user.locked:
            continue
        if not channel_allowed(candidate.channel, notification, options):
            continue
        if limit_to and candidate.address not in limit_to:
            continue
        if not user_selected(candidate.user, include, exclude, context):
            continue
        recipients[candidate.notification, candidate.assignment] = candidate
    return [recipients[key] for key in sorted(recipients)]


def merge_fields(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: `override` wins, nested objects are merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_fields(merged[key], value)
        else:
            merged[key] = value
    return merged
