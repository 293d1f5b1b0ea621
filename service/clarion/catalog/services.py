"""`clarion apply`: create or update a catalog, all or nothing, idempotently."""

import json
from datetime import timezone
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml
from clarion_plugins.manager import name_validation_error
from piccolo.table import Table

from clarion.auth.grants import ALL_GRANTS
from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token, new_token
from clarion.catalog.schemas import (
    ApplyResult,
    Catalog,
    CatalogMember,
    CatalogOrganization,
    CatalogTemplate,
    CatalogUser,
)
from clarion.db.engine import write_transaction
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.errors import BadRequest
from clarion.events.tables import Event
from clarion.organizations.tables import Application, Organization, Project
from clarion.users.addresses import address_kind
from clarion.users.tables import Address, Assignment, User


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


def validate_catalog(
    catalog: Catalog,
    channel_kinds: Mapping[str, frozenset[str]],
    secret_checks: Mapping[str, SecretCheck] | None = None,
) -> None:
    """Checks that need no database: references inside each organization, grants, channels, secrets.

    `secret_checks`: channel name → its type's secret check (channels without one accept any secret).
    """
    seen_orgs: set[str] = set()
    for o, org in enumerate(catalog.organizations):
        where = f"organizations[{o}]"
        _unique(seen_orgs, org.slug, f"{where}.slug")
        users = {user.username: user for user in org.users}
        _check_users(org, where, channel_kinds, secret_checks or {})
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
                    _check_member(member, users, channel_kinds, f"{dwhere}.members[{m}]")
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
                            _check_member(member, users, channel_kinds, f"{nwhere}.subscribers[{s}]")
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


def _unique(seen: set[str], value: str, where: str) -> None:
    if value in seen:
        raise CatalogError(f"{where}: duplicate {value!r}")
    seen.add(value)


def _check_users(
    org: CatalogOrganization,
    where: str,
    channel_kinds: Mapping[str, frozenset[str]],
    secret_checks: Mapping[str, SecretCheck],
) -> None:
    seen: set[str] = set()
    for u, user in enumerate(org.users):
        uwhere = f"{where}.users[{u}]"
        _unique(seen, user.username, f"{uwhere}.username")
        names: set[str] = set()
        for a, address in enumerate(user.addresses):
            _unique(names, address.name, f"{uwhere}.addresses[{a}].name")
        for s, assignment in enumerate(user.assignments):
            swhere = f"{uwhere}.assignments[{s}]"
            _check_assignment(user, assignment.address, assignment.channel, channel_kinds, swhere)
            check = secret_checks.get(assignment.channel)
            if assignment.secret is not None and check is not None:
                try:
                    check(assignment.secret)
                except ValueError as exc:
                    raise CatalogError(f"{swhere}.secret: {exc}") from None


def _check_member(
    member: CatalogMember,
    users: Mapping[str, CatalogUser],
    channel_kinds: Mapping[str, frozenset[str]],
    where: str,
) -> None:
    user = users.get(member.user)
    if user is None:
        raise CatalogError(f"{where}.user: unknown user {member.user!r} (list the user under users)")
    _check_assignment(user, member.address, member.channel, channel_kinds, where)


def _check_assignment(
    user: CatalogUser,
    address_name: str,
    channel: str,
    channel_kinds: Mapping[str, frozenset[str]],
    where: str,
) -> None:
    address = next((a for a in user.addresses if a.name == address_name), None)
    if address is None:
        raise CatalogError(f"{where}.address: user {user.username!r} has no address {address_name!r}")
    _check_channel(channel, channel_kinds, f"{where}.channel")
    kind = address_kind(address.value)
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


async def apply_catalog(
    catalog: Catalog,
    channel_kinds: Mapping[str, frozenset[str]],
    secret_checks: Mapping[str, SecretCheck] | None = None,
) -> ApplyResult:
    """Create or update everything in `catalog` in one transaction; returns tokens of created keys."""
    validate_catalog(catalog, channel_kinds, secret_checks)
    result = ApplyResult()
    async with write_transaction():
        for org in catalog.organizations:
            await _apply_organization(org, result)
    return result


async def _upsert(table: type[Table], match: Mapping[str, Any], values: Mapping[str, Any]) -> int:
    """The id of the row matching `match`, inserted or updated so it holds `values`."""
    columns = table._meta.columns
    by_name = {column._meta.name: column for column in columns}
    condition = None
    for name, value in match.items():
        term = by_name[name].is_null() if value is None else by_name[name] == value
        condition = term if condition is None else condition & term
    row = await table.select().where(condition).first()
    if row is None:
        inserted = await table.insert(table(**match, **values)).returning(table._meta.primary_key)
        return inserted[0]["id"]  # type: ignore[no-any-return]
    changed = {
        by_name[name]: value for name, value in values.items() if _stored(row[name]) != _stored(value)
    }
    if changed:
        await table.update(changed).where(table._meta.primary_key == row["id"])
    return row["id"]  # type: ignore[no-any-return]


def _stored(value: Any) -> Any:
    """Normalise JSON columns (text on SQLite, decoded or text on PostgreSQL) for comparison."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def _apply_organization(org: CatalogOrganization, result: ApplyResult) -> None:
    org_id = await _upsert(Organization, {"slug": org.slug}, {"name": org.name})
    address_ids: dict[tuple[str, str], int] = {}
    kinds: dict[tuple[str, str], str] = {}
    for user in org.users:
        user_id = await _upsert(
            User,
            {"organization": org_id, "username": user.username},
            {
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "locked": user.locked,
                "custom_fields": json.dumps(user.custom_fields, sort_keys=True),
            },
        )
        for address in user.addresses:
            kind = address_kind(address.value)
            address_ids[user.username, address.name] = await _upsert(
                Address, {"user": user_id, "name": address.name}, {"value": address.value, "kind": kind}
            )
            kinds[user.username, address.name] = kind
        for assignment in user.assignments:
            await _upsert(
                Assignment,
                {"address": address_ids[user.username, assignment.address], "channel": assignment.channel},
                {"active": assignment.active, "secret": assignment.secret},
            )

    async def assignment_of(member: CatalogMember) -> int:
        return await _upsert(
            Assignment, {"address": address_ids[member.user, member.address], "channel": member.channel}, {}
        )

    for project in org.projects:
        project_id = await _upsert(
            Project,
            {"organization": org_id, "slug": project.slug},
            {"name": project.name, "active": project.active, "locked": project.locked, "paused": project.paused},
        )
        app_ids: dict[str, int] = {}
        for app in project.applications:
            app_ids[app.slug] = await _upsert(
                Application,
                {"project": project_id, "slug": app.slug},
                {"name": app.name, "active": app.active, "locked": app.locked, "paused": app.paused},
            )
        list_ids: dict[str, int] = {}
        for dl in project.distribution_lists:
            list_id = await _upsert(
                DistributionList,
                {"project": project_id, "name": dl.name},
                {"application": app_ids[dl.application] if dl.application else None},
            )
            list_ids[dl.name] = list_id
            for member in dl.members:
                await _upsert(
                    DistributionListMember,
                    {"distribution_list": list_id, "assignment": await assignment_of(member)},
                    {},
                )
        for app in project.applications:
            for event in app.events:
                event_id = await _upsert(
                    Event,
                    {"application": app_ids[app.slug], "slug": event.slug},
                    {
                        "name": event.name,
                        "description": event.description,
                        "active": event.active,
                        "locked": event.locked,
                        "paused": event.paused,
                    },
                )
                for channel, template in event.templates.items():
                    await _upsert_template(event_id, None, channel, template)
                for notification in event.notifications:
                    notification_id = await _upsert(
                        Notification,
                        {"event": event_id, "name": notification.name},
                        {
                            "distribution_list": list_ids[notification.distribution_list]
                            if notification.distribution_list
                            else None,
                            "channels": json.dumps(notification.channels),
                            "environments": json.dumps(notification.environments),
                            "context_filter": json.dumps(notification.filter, sort_keys=True),
                            "active": notification.active,
                        },
                    )
                    for channel, template in notification.templates.items():
                        await _upsert_template(event_id, notification_id, channel, template)
                    for member in notification.subscribers:
                        await _upsert(
                            Subscription,
                            {"notification": notification_id, "assignment": await assignment_of(member)},
                            {"active": True},
                        )
    await _apply_api_keys(org, org_id, result)


async def _upsert_template(event_id: int, notification_id: int | None, channel: str, template: CatalogTemplate) -> None:
    await _upsert(
        Template,
        {"event": event_id, "notification": notification_id, "channel": channel},
        {"subject": template.subject, "text": template.text, "html": template.html},
    )


async def _apply_api_keys(org: CatalogOrganization, org_id: int, result: ApplyResult) -> None:
    for key in org.api_keys:
        project_id = application_id = None
        if key.project is not None:
            project_id = await Project.select(Project.id).where(
                (Project.organization == org_id) & (Project.slug == key.project)
            ).first()
            project_id = project_id["id"]  # type: ignore[index]
            if key.application is not None:
                row = await Application.select(Application.id).where(
                    (Application.project == project_id) & (Application.slug == key.application)
                ).first()
                application_id = row["id"]  # type: ignore[index]
        values = {
            "project": project_id,
            "application": application_id,
            "grants": json.dumps(sorted(set(key.grants))),
            "expires_at": key.expires_at
            if key.expires_at is None or key.expires_at.tzinfo
            else key.expires_at.replace(tzinfo=timezone.utc),
            "active": key.active,
        }
        existing = await ApiKey.select(ApiKey.id, ApiKey.active).where(
            (ApiKey.organization == org_id) & (ApiKey.name == key.name)
        ).first()
        if existing is None:
            token = new_token()
            await ApiKey.insert(ApiKey(organization=org_id, name=key.name, token_hash=hash_token(token), **values))
            result.api_keys[f"{org.slug}/{key.name}"] = token
        else:
            if not existing["active"]:  # revoked (over the API or by an earlier catalog): it stays revoked
                values["active"] = False
                if key.active:
                    result.revoked_keys.append(f"{org.slug}/{key.name}")
            await _upsert(ApiKey, {"organization": org_id, "name": key.name}, values)
