"""API key authentication: token → principal, cached ≤ 1 s, last use recorded in batches.

`ApiKeys.authenticate(token)` is called once per API request. It looks the key up
by the token's SHA-256 through a `TtlCache` whose entries live at most
`KEY_CACHE_TTL_S` (1 s), so a key that is revoked, deactivated or deleted stops
working within a second; expiry is checked against the clock on every request.

The key's `last_used_at` is not written per request: used key ids are collected
in memory and written by one UPDATE every `LAST_USED_FLUSH_S` seconds (and once
more at shutdown), so authentication adds no write to the hot path.

`clarion.http.authentication.api_keys_lifespan` puts an `ApiKeys` on
`app.state.api_keys` and runs the flusher.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from clarion.auth.grants import expand_grants
from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token
from clarion.cache import TtlCache
from clarion.db.engine import write_transaction
from clarion.errors import NotAuthenticated

logger = logging.getLogger(__name__)

KEY_CACHE_TTL_S = 1.0
LAST_USED_FLUSH_S = 5.0
SHUTDOWN_FLUSH_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """The authenticated API key, as guards and services see it (`request.user`)."""

    key_id: int
    name: str
    organization_id: int
    organization: str
    project_id: int | None
    project: str | None
    application_id: int | None
    application: str | None
    grants: frozenset[str]
    rate_limit: tuple[int, int] | None = None
    """The key's own (requests a minute, burst); None: `[rate_limit]` applies."""

    @property
    def narrowed(self) -> bool:
        """True when the key is limited to a project (and maybe an application) of its organization."""
        return self.project is not None


@dataclass(frozen=True, slots=True)
class _StoredKey:
    principal: ApiPrincipal
    active: bool
    expires_at: float | None  # POSIX seconds


class InvalidApiKey(NotAuthenticated):
    """401 with the `WWW-Authenticate` challenge for the `Key` scheme."""

    headers = {"WWW-Authenticate": 'Key realm="clarion"'}


class ApiKeys:
    """The process's key lookups and the pending `last_used_at` updates."""

    def __init__(self, *, ttl_s: float = KEY_CACHE_TTL_S) -> None:
        self._cache: TtlCache[str, _StoredKey | None] = TtlCache(_load_key, ttl_s=ttl_s)
        self._used: set[int] = set()

    async def authenticate(self, token: str) -> ApiPrincipal:
        """The key's principal; `InvalidApiKey` (401) when unknown, inactive or expired."""
        stored = await self._cache.get(hash_token(token))
        if stored is None:
            raise InvalidApiKey("invalid API key")
        if not stored.active:
            raise InvalidApiKey("API key is inactive")
        if stored.expires_at is not None and stored.expires_at <= time.time():
            raise InvalidApiKey("API key has expired")
        self._used.add(stored.principal.key_id)
        return stored.principal

    async def flush_last_used(self) -> None:
        """Write `last_used_at = now` for every key used since the last flush, in one UPDATE."""
        if not self._used:
            return
        used, self._used = self._used, set()
        try:
            async with write_transaction():
                await ApiKey.update({ApiKey.last_used_at: datetime.now(timezone.utc)}).where(
                    ApiKey.id.is_in(sorted(used))
                )
        except Exception:
            self._used |= used
            raise

    async def flush_periodically(self, interval_s: float = LAST_USED_FLUSH_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush_last_used()
            except Exception:
                logger.warning("recording API keys' last use failed; retrying later", exc_info=True)


async def _load_key(token_hash: str) -> _StoredKey | None:
    row = (
        await ApiKey.select(
            ApiKey.id,
            ApiKey.name,
            ApiKey.grants,
            ApiKey.active,
            ApiKey.expires_at,
            ApiKey.rate_per_minute,
            ApiKey.rate_burst,
            ApiKey.organization.id.as_alias("organization_id"),
            ApiKey.organization.slug.as_alias("organization_slug"),
            ApiKey.project.id.as_alias("project_id"),
            ApiKey.project.slug.as_alias("project_slug"),
            ApiKey.application.id.as_alias("application_id"),
            ApiKey.application.slug.as_alias("application_slug"),
        )
        .where(ApiKey.token_hash == token_hash)
        .output(load_json=True)
        .first()
    )
    if row is None:
        return None
    principal = ApiPrincipal(
        key_id=row["id"],
        name=row["name"],
        organization_id=row["organization_id"],
        organization=row["organization_slug"],
        project_id=row["project_id"],
        project=row["project_slug"],
        application_id=row["application_id"],
        application=row["application_slug"],
        grants=expand_grants(frozenset(row["grants"] or ())),
        rate_limit=(row["rate_per_minute"], row["rate_burst"]) if row["rate_per_minute"] is not None else None,
    )
    expires_at: datetime | None = row["expires_at"]
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    return _StoredKey(
        principal=principal,
        active=bool(row["active"]),
        expires_at=expires_at.timestamp() if expires_at is not None else None,
    )
