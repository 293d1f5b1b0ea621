"""Managing API keys over the API: list, mint, revoke (SPEC §3.3, grant `admin`).

A key mints only keys within its own reach:

* scope: a project key mints keys narrowed to its project (or to one of its
  applications), an application key only keys narrowed to its application;
  anything wider is 403 naming `project` / `application` (decided on the slugs,
  before anything is looked up);
* grants: every grant asked for (`full_access` counts as all of them and is
  only given by a `full_access` key) must be held by the minting key, else 403
  naming the grant;
* expiry: a key that expires mints keys that expire no later (without
  `expires_at` the new key inherits the minting key's expiry);
* rate limit: a key with its own `rate_limit` mints keys limited no looser
  (without `rate_limit` the new key inherits the minting key's own).

The token is generated here (`clarion.auth.tokens`), answered once in the 201
and stored only as its SHA-256. Lists and revocation see only the keys inside
the calling key's scope (others are "unknown", 404). Revoking sets
`active = false`; the authentication cache (`KEY_CACHE_TTL_S`, 1 s) stops
honouring the key within a second. Revoked keys stay listed (`active: false`).
"""

from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from clarion.auth.grants import Grant, expand_grants
from clarion.auth.schemas import KeyRateLimit, key_rate_limit
from clarion.auth.services import ApiPrincipal
from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token, new_token
from clarion.db.engine import write_transaction
from clarion.db.rows import insert_unique
from clarion.errors import BadRequest, NotFound, PermissionDenied
from clarion.organizations.tables import Application, Project
from clarion.pagination import Page, PageRequest, page_of_query
from clarion.schemas import Request, Response, Slug, check_utc_representable

KeyName = Annotated[str, Meta(min_length=1, max_length=150)]


class KeyIn(Request):
    name: KeyName
    grants: Annotated[list[Grant], Meta(min_length=1, max_length=len(Grant))]
    project: Slug | None = None
    application: Slug | None = None
    expires_at: datetime | None = None
    rate_limit: KeyRateLimit | None = None
    """The key's own rate limit; without it `[rate_limit]` of the configuration applies."""

    def __post_init__(self) -> None:
        check_utc_representable(self.expires_at, "expires_at")


class KeyOut(Response):
    """A key as lists show it: never its token or hash."""

    id: int
    name: str
    project: str | None
    application: str | None
    grants: list[str]
    expires_at: datetime | None
    active: bool
    last_used_at: datetime | None
    created: datetime
    rate_limit: KeyRateLimit | None


class KeyCreatedOut(KeyOut):
    """The 201 of a new key: the only time its `token` is shown."""

    token: str


KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.project.slug.as_alias("project_slug"),
    ApiKey.application.slug.as_alias("application_slug"),
    ApiKey.grants,
    ApiKey.expires_at,
    ApiKey.active,
    ApiKey.last_used_at,
    ApiKey.created,
    ApiKey.rate_per_minute,
    ApiKey.rate_burst,
)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _key_out(row: dict[str, Any]) -> KeyOut:
    return KeyOut(
        id=row["id"],
        name=row["name"],
        project=row["project_slug"],
        application=row["application_slug"],
        grants=sorted(row["grants"] or []),
        expires_at=_utc(row["expires_at"]),
        active=bool(row["active"]),
        last_used_at=_utc(row["last_used_at"]),
        created=_utc(row["created"]),  # type: ignore[arg-type]
        rate_limit=key_rate_limit(row["rate_per_minute"], row["rate_burst"]),
    )


def _visible(principal: ApiPrincipal) -> Any:
    """The keys the caller may see: its organization's, within its own scope."""
    condition = ApiKey.organization == principal.organization_id
    if principal.project_id is not None:
        condition &= ApiKey.project == principal.project_id
    if principal.application_id is not None:
        condition &= ApiKey.application == principal.application_id
    return condition


async def list_keys(principal: ApiPrincipal, page: PageRequest) -> Page[KeyOut]:
    query = ApiKey.select(*KEY_COLUMNS).where(_visible(principal)).output(load_json=True)
    rows = await page_of_query(query, page, key=ApiKey.id)
    return rows.map(_key_out)


async def create_key(principal: ApiPrincipal, data: KeyIn) -> KeyCreatedOut:
    if data.application is not None and data.project is None:
        raise BadRequest("project: required when application is given")
    _check_scope(principal, data)
    grants = sorted({grant.value for grant in data.grants})
    exceeding = sorted(expand_grants(frozenset(grants)) - principal.grants)
    if exceeding:
        raise PermissionDenied(f"grants: the key cannot grant {', '.join(exceeding)} (it does not hold it)")
    expires_at = await _expiry(principal, _utc(data.expires_at))
    rate_limit = _rate_limit(principal, data.rate_limit)
    project_id, application_id = await _narrowing(principal, data)
    token = new_token()
    async with write_transaction():
        pk = await insert_unique(
            ApiKey(
                organization=principal.organization_id,
                project=project_id,
                application=application_id,
                name=data.name,
                token_hash=hash_token(token),
                grants=msgspec.json.encode(grants).decode(),
                expires_at=expires_at,
                active=True,
                created=datetime.now(timezone.utc),
                **(rate_limit.columns() if rate_limit else {}),
            ),
            f"name: a key named {data.name!r} already exists",
        )
        row = await ApiKey.select(*KEY_COLUMNS).where(ApiKey.id == pk).output(load_json=True).first()
    return KeyCreatedOut(**{name: getattr(_key_out(row), name) for name in KeyOut.__struct_fields__}, token=token)


async def revoke_key(principal: ApiPrincipal, key_id: int) -> None:
    async with write_transaction():
        found = await ApiKey.exists().where(_visible(principal) & (ApiKey.id == key_id))
        if not found:
            raise NotFound(f"unknown API key {key_id}")
        await ApiKey.update({ApiKey.active: False}).where(ApiKey.id == key_id)


def _check_scope(principal: ApiPrincipal, data: KeyIn) -> None:
    """403 unless the new key's project/application lie inside the caller's scope (slugs only)."""
    if principal.project is not None and data.project != principal.project:
        wanted = f"project {data.project!r}" if data.project else "the whole organization"
        raise PermissionDenied(f"project: the key is narrowed to project {principal.project!r} and cannot mint keys for {wanted}")
    if principal.application is not None and data.application != principal.application:
        wanted = f"application {data.application!r}" if data.application else f"project {data.project!r}"
        raise PermissionDenied(
            f"application: the key is narrowed to application {principal.application!r} and cannot mint keys for {wanted}"
        )


async def _expiry(principal: ApiPrincipal, wanted: datetime | None) -> datetime | None:
    if wanted is not None and wanted <= datetime.now(timezone.utc):
        raise BadRequest("expires_at: already in the past")
    row = await ApiKey.select(ApiKey.expires_at).where(ApiKey.id == principal.key_id).first()
    own = _utc(row["expires_at"]) if row else None
    if own is None:
        return wanted
    if wanted is None:
        return own
    if wanted > own:
        raise PermissionDenied(f"expires_at: later than the minting key's own expiry ({own.isoformat()})")
    return wanted


def _rate_limit(principal: ApiPrincipal, wanted: KeyRateLimit | None) -> KeyRateLimit | None:
    """A key with its own rate limit mints keys limited no looser (without `rate_limit`: its own)."""
    if principal.rate_limit is None:
        return wanted
    own = KeyRateLimit(per_minute=principal.rate_limit[0], burst=principal.rate_limit[1])
    if wanted is None or own.per_minute == 0:
        return wanted or own
    if wanted.per_minute == 0 or wanted.per_minute > own.per_minute or wanted.burst > own.burst:
        raise PermissionDenied(
            f"rate_limit: looser than the minting key's own ({own.per_minute} a minute, bursts of {own.burst})"
        )
    return wanted


async def _narrowing(principal: ApiPrincipal, data: KeyIn) -> tuple[int | None, int | None]:
    """The ids of the new key's project and application; 400 naming an unknown one."""
    if data.project is None:
        return None, None
    project = await Project.select(Project.id).where(
        (Project.organization == principal.organization_id) & (Project.slug == data.project)
    ).first()
    if project is None:
        raise BadRequest(f"project: unknown project {data.project!r}")
    if data.application is None:
        return project["id"], None
    application = await Application.select(Application.id).where(
        (Application.project == project["id"]) & (Application.slug == data.application)
    ).first()
    if application is None:
        raise BadRequest(f"application: unknown application {data.application!r} in project {data.project!r}")
    return project["id"], application["id"]

