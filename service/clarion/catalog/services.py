"""`clarion apply`: create or update a catalog, all or nothing, idempotently (checked first: `validation`)."""

import json
from collections.abc import Mapping
from datetime import timezone
from typing import Any

from piccolo.table import Table

from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token, new_token
from clarion.catalog.schemas import (
    ApplyResult,
    Catalog,
    CatalogMember,
    CatalogOrganization,
    CatalogTemplate,
)
from clarion.catalog.validation import CatalogAddressKinds, SecretCheck, validate_catalog
from clarion.channels.addresses import AddressKinds
from clarion.db.engine import write_transaction
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.events.tables import Event
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.organizations.tables import Application, Organization, Project
from clarion.users.tables import Address, Assignment, User


async def apply_catalog(
    catalog: Catalog,
    channel_kinds: Mapping[str, frozenset[str]],
    secret_checks: Mapping[str, SecretCheck] | None = None,
    address_kinds: AddressKinds | None = None,
) -> ApplyResult:
    """Create or update everything in `catalog` in one transaction; returns tokens of created keys."""
    kinds = validate_catalog(catalog, channel_kinds, secret_checks, address_kinds)
    result = ApplyResult()
    async with write_transaction():
        for org in catalog.organizations:
            await _apply_organization(org, result, kinds)
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


async def _apply_organization(org: CatalogOrganization, result: ApplyResult, kinds: CatalogAddressKinds) -> None:
    org_id = await _upsert(Organization, {"slug": org.slug}, {"name": org.name})
    address_ids: dict[tuple[str, str], int] = {}
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
            kind = kinds[org.slug, user.username, address.name]
            address_ids[user.username, address.name] = await _upsert(
                Address, {"user": user_id, "name": address.name}, {"value": address.value, "kind": kind}
            )
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
            "rate_per_minute": key.rate_limit.per_minute if key.rate_limit else None,
            "rate_burst": key.rate_limit.burst if key.rate_limit else None,
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
