"""Reading a catalog file and checking it before anything is written (`clarion apply`).

Every error names the entry, e.g.
`organizations[0].projects[0]…notifications[0].distribution_list: unknown distribution list 'nope'`.
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml
from clarion_plugins.manager import name_validation_error

from clarion.auth.grants import ALL_GRANTS
from clarion.catalog.schemas import Catalog, CatalogMember, CatalogOrganization, CatalogTemplate, CatalogUser
from clarion.channels.addresses import AddressKindError, AddressKinds
from clarion.errors import BadRequest


class CatalogError(BadRequest):
    """The catalog cannot be applied; the detail names the entry."""


def read_catalog(path: Path) -> Catalog:
    """Decode a JSON, TOML or YAML catalog file."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            raw = msgspec.toml.decode(text)
        elif suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text)
    except (msgspec.DecodeError, yaml.YAMLError, ValueError) as exc:
        raise CatalogError(f"{path}: not valid {suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    return decode_catalog(raw)


def decode_catalog(raw: Any) -> Catalog:
    try:
        return msgspec.convert(raw, Catalog)
    except msgspec.ValidationError as exc:
        raise CatalogError(name_validation_error(str(exc))) from exc


SecretCheck = Callable[[str], None]
"""Raises ValueError saying what is wrong with an assignment secret (a channel type's `check_secret`)."""

CatalogAddressKinds = dict[tuple[str, str, str], str]
"""(organization slug, username, address name) → the address's kind."""


def validate_catalog(
    catalog: Catalog,
    channel_kinds: Mapping[str, frozenset[str]],
    secret_checks: Mapping[str, SecretCheck] | None = None,
    address_kinds: AddressKinds | None = None,
) -> CatalogAddressKinds:
    """Checks that need no database: references inside each organization, grants, channels, secrets,
    addresses; returns every address's kind.

    `secret_checks`: channel name → its type's secret check (channels without one accept any secret).
    `address_kinds`: the process's address kinds (default: the built-in ones only).
    """
    seen_orgs: set[str] = set()
    kinds: CatalogAddressKinds = {}
    for o, org in enumerate(catalog.organizations):
        where = f"organizations[{o}]"
        _unique(seen_orgs, org.slug, f"{where}.slug")
        users = {user.username: user for user in org.users}
        org_kinds = _check_users(org, where, channel_kinds, secret_checks or {}, address_kinds or AddressKinds({}))
        kinds.update({(org.slug, *key): kind for key, kind in org_kinds.items()})
        projects = {project.slug: project for project in org.projects}
        seen: set[str] = set()
        for p, project in enumerate(org.projects):
            pwhere = f"{where}.projects[{p}]"
            _unique(seen, project.slug, f"{pwhere}.slug")
            apps = {app.slug for app in project.applications}
            lists = {dl.name for dl in project.distribution_lists}
            for d, dl in enumerate(project.distribution_lists):
                dwhere = f"{pwhere}.distribution_lists[{d}]"
                if dl.application is not None and dl.application not in apps:
                    raise CatalogError(f"{dwhere}.application: unknown application {dl.application!r}")
                for m, member in enumerate(dl.members):
                    _check_member(member, users, org_kinds, channel_kinds, f"{dwhere}.members[{m}]")
            seen_apps: set[str] = set()
            for a, app in enumerate(project.applications):
                awhere = f"{pwhere}.applications[{a}]"
                _unique(seen_apps, app.slug, f"{awhere}.slug")
                seen_events: set[str] = set()
                for e, event in enumerate(app.events):
                    ewhere = f"{awhere}.events[{e}]"
                    _unique(seen_events, event.slug, f"{ewhere}.slug")
                    _check_templates(event.templates, channel_kinds, f"{ewhere}.templates")
                    seen_notifications: set[str] = set()
                    for n, notification in enumerate(event.notifications):
                        nwhere = f"{ewhere}.notifications[{n}]"
                        _unique(seen_notifications, notification.name, f"{nwhere}.name")
                        if notification.distribution_list is not None and notification.distribution_list not in lists:
                            raise CatalogError(
                                f"{nwhere}.distribution_list: unknown distribution list"
                                f" {notification.distribution_list!r} in project {project.slug!r}"
                            )
                        for c, channel in enumerate(notification.channels):
                            _check_channel(channel, channel_kinds, f"{nwhere}.channels[{c}]")
                        _check_templates(notification.templates, channel_kinds, f"{nwhere}.templates")
                        for s, member in enumerate(notification.subscribers):
                            _check_member(member, users, org_kinds, channel_kinds, f"{nwhere}.subscribers[{s}]")
        seen_keys: set[str] = set()
        for k, key in enumerate(org.api_keys):
            kwhere = f"{where}.api_keys[{k}]"
            _unique(seen_keys, key.name, f"{kwhere}.name")
            unknown = sorted(set(key.grants) - ALL_GRANTS)
            if unknown:
                raise CatalogError(f"{kwhere}.grants: unknown grant {unknown[0]!r}")
            if key.application is not None and key.project is None:
                raise CatalogError(f"{kwhere}.project: required when application is given")
            if key.project is not None:
                if key.project not in projects:
                    raise CatalogError(f"{kwhere}.project: unknown project {key.project!r}")
                if key.application is not None and key.application not in {
                    app.slug for app in projects[key.project].applications
                }:
                    raise CatalogError(f"{kwhere}.application: unknown application {key.application!r}")
    return kinds


def _unique(seen: set[str], value: str, where: str) -> None:
    if value in seen:
        raise CatalogError(f"{where}: duplicate {value!r}")
    seen.add(value)


def _check_users(
    org: CatalogOrganization,
    where: str,
    channel_kinds: Mapping[str, frozenset[str]],
    secret_checks: Mapping[str, SecretCheck],
    address_kinds: AddressKinds,
) -> dict[tuple[str, str], str]:
    """Checks the users and their addresses and assignments; returns (username, address name) → kind."""
    seen: set[str] = set()
    kinds: dict[tuple[str, str], str] = {}
    for u, user in enumerate(org.users):
        uwhere = f"{where}.users[{u}]"
        _unique(seen, user.username, f"{uwhere}.username")
        names: set[str] = set()
        for a, address in enumerate(user.addresses):
            _unique(names, address.name, f"{uwhere}.addresses[{a}].name")
            try:
                kinds[user.username, address.name] = address_kinds.kind_of(address.value, address.kind)
            except AddressKindError as exc:
                raise CatalogError(exc.at(f"{uwhere}.addresses[{a}]")) from None
        for s, assignment in enumerate(user.assignments):
            swhere = f"{uwhere}.assignments[{s}]"
            _check_assignment(user, assignment.address, assignment.channel, kinds, channel_kinds, swhere)
            check = secret_checks.get(assignment.channel)
            if assignment.secret is not None and check is not None:
                try:
                    check(assignment.secret)
                except ValueError as exc:
                    raise CatalogError(f"{swhere}.secret: {exc}") from None
    return kinds


def _check_member(
    member: CatalogMember,
    users: Mapping[str, CatalogUser],
    address_kinds: Mapping[tuple[str, str], str],
    channel_kinds: Mapping[str, frozenset[str]],
    where: str,
) -> None:
    user = users.get(member.user)
    if user is None:
        raise CatalogError(f"{where}.user: unknown user {member.user!r} (list the user under users)")
    _check_assignment(user, member.address, member.channel, address_kinds, channel_kinds, where)


def _check_assignment(
    user: CatalogUser,
    address_name: str,
    channel: str,
    address_kinds: Mapping[tuple[str, str], str],
    channel_kinds: Mapping[str, frozenset[str]],
    where: str,
) -> None:
    kind = address_kinds.get((user.username, address_name))
    if kind is None:
        raise CatalogError(f"{where}.address: user {user.username!r} has no address {address_name!r}")
    _check_channel(channel, channel_kinds, f"{where}.channel")
    if kind not in channel_kinds[channel]:
        raise CatalogError(
            f"{where}.channel: channel {channel!r} cannot reach a {kind} address"
            f" (accepts {', '.join(sorted(channel_kinds[channel])) or 'nothing'})"
        )


def _check_channel(channel: str, channel_kinds: Mapping[str, frozenset[str]], where: str) -> None:
    if channel not in channel_kinds:
        raise CatalogError(
            f"{where}: channel {channel!r} is not configured"
            f" (configured: {', '.join(sorted(channel_kinds)) or 'none'})"
        )


def _check_templates(
    templates: Mapping[str, CatalogTemplate], channel_kinds: Mapping[str, frozenset[str]], where: str
) -> None:
    for channel in templates:
        _check_channel(channel, channel_kinds, f"{where}.{channel}")
