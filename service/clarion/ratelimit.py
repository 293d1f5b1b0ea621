"""Rate limiting per API key: the generic cell rate algorithm (GCRA), in memory or in Redis.

A limit is a steady `per_minute` rate and a `burst`: a key that has been quiet
may send `burst` requests at once, then one every `60 / per_minute` seconds.
GCRA keeps one number per key, the "theoretical arrival time" (TAT) of the next
request: a request at `now` is allowed when `max(TAT, now) + interval - now`
stays within `burst * interval`, and then moves the TAT on by one interval.

Two stores keep the TATs:

* `MemoryStore`: a dict in this process (one `serve` process);
* `RedisStore`: one Redis key per API key, checked and moved by one Lua script
  (atomic across every `serve` process sharing the server), on Redis's clock.

A store that cannot be reached raises `StoreUnavailable`; `RateLimiter.check`
then lets the request through (logged, at most once every 30 s) or, with
`fail_closed`, raises it for the HTTP edge to answer 503.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from clarion.settings import RateLimitSettings

logger = logging.getLogger(__name__)

OUTAGE_LOG_INTERVAL_S = 30.0
REDIS_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class Limit:
    per_minute: int
    burst: int

    @property
    def interval_ms(self) -> float:
        return 60_000.0 / self.per_minute


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request: allowed or not, and what the RateLimit headers say."""

    allowed: bool
    limit: Limit
    remaining: int
    reset_s: int
    """Seconds until the key's whole burst is available again."""
    retry_after_s: int
    """Seconds until the next request is allowed (0 when this one was)."""

    def headers(self) -> list[tuple[str, str]]:
        """`RateLimit-*` (IETF draft `ratelimit-headers`), and `Retry-After` on a refusal."""
        headers = [
            ("RateLimit-Limit", str(self.limit.burst)),
            ("RateLimit-Remaining", str(self.remaining)),
            ("RateLimit-Reset", str(self.reset_s)),
            ("RateLimit-Policy", f"{self.limit.burst};w={math.ceil(self.limit.burst * self.limit.interval_ms / 1000)}"),
        ]
        if not self.allowed:
            headers.append(("Retry-After", str(self.retry_after_s)))
        return headers


class StoreUnavailable(Exception):
    """The shared store could not be asked (Redis down, timed out)."""


class Store(Protocol):
    async def hit(self, key: str, limit: Limit) -> tuple[bool, float, float]:
        """(allowed, ms until the next request is allowed, ms until the bucket is full again)."""

    async def close(self) -> None: ...


def gcra(tat_ms: float | None, now_ms: float, limit: Limit) -> tuple[bool, float, float, float]:
    """(allowed, retry-after ms, reset ms, the new TAT) of a request at `now_ms`."""
    tat = max(tat_ms if tat_ms is not None else now_ms, now_ms)
    new_tat = tat + limit.interval_ms
    allow_at = new_tat - limit.burst * limit.interval_ms
    if allow_at > now_ms:
        return False, allow_at - now_ms, tat - now_ms, tat
    return True, 0.0, new_tat - now_ms, new_tat


class MemoryStore:
    """The TATs of one process; entries whose TAT has passed are dropped when the dict grows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._tats: dict[str, float] = {}

    async def hit(self, key: str, limit: Limit) -> tuple[bool, float, float]:
        now_ms = self._clock() * 1000
        if len(self._tats) >= self._max_entries:
            self._tats = {k: tat for k, tat in self._tats.items() if tat > now_ms}
        allowed, retry_ms, reset_ms, tat = gcra(self._tats.get(key), now_ms, limit)
        self._tats[key] = tat
        return allowed, retry_ms, reset_ms

    async def close(self) -> None:
        self._tats.clear()


# The same arithmetic as `gcra`, atomically in Redis on Redis's clock; the key expires when the bucket is full.
_GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, tostring(allow_at - now), tostring(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now))
return {1, '0', tostring(new_tat - now)}
"""


class RedisStore:
    """The TATs in Redis, shared by every process pointed at the same server and prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio

        self._prefix = prefix
        self._client = redis.asyncio.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S, retry_on_timeout=False
        )
        self._script = self._client.register_script(_GCRA_SCRIPT)

    async def hit(self, key: str, limit: Limit) -> tuple[bool, float, float]:
        import redis.exceptions

        try:
            allowed, retry_ms, reset_ms = await self._script(
                keys=[self._prefix + key], args=[repr(limit.interval_ms), limit.burst]
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        return bool(allowed), float(retry_ms), float(reset_ms)

    async def close(self) -> None:
        await self._client.aclose()


def open_store(settings: RateLimitSettings) -> Store:
    if settings.store == "memory":
        return MemoryStore()
    return RedisStore(settings.store, settings.redis_prefix)


class RateLimiter:
    """`await limiter.check(key_id, override)`: a `Decision`, or None when the key is not limited."""

    def __init__(self, settings: RateLimitSettings, store: Store | None = None) -> None:
        self._settings = settings
        self._default = Limit(settings.per_minute, settings.burst) if settings.per_minute else None
        self._store = store if store is not None else open_store(settings)
        self._last_outage_log = -math.inf

    def limit_of(self, override: tuple[int, int] | None) -> Limit | None:
        """The key's own limit when it has one (per_minute 0: unlimited), else the configured default."""
        if override is None:
            return self._default
        per_minute, burst = override
        return Limit(per_minute, burst) if per_minute else None

    async def check(self, key_id: int, override: tuple[int, int] | None) -> Decision | None:
        limit = self.limit_of(override)
        if limit is None:
            return None
        try:
            allowed, retry_ms, reset_ms = await self._store.hit(str(key_id), limit)
        except StoreUnavailable as exc:
            if self._settings.fail_closed:
                raise
            now = time.monotonic()
            if now - self._last_outage_log >= OUTAGE_LOG_INTERVAL_S:
                self._last_outage_log = now
                logger.warning(
                    "rate limit store unavailable, letting requests through (rate_limit.fail_closed = false): %s",
                    exc,
                    extra={"store": self._settings.store},
                )
            return None
        remaining = 0 if not allowed else int((limit.burst * limit.interval_ms - reset_ms) // limit.interval_ms)
        return Decision(
            allowed=allowed,
            limit=limit,
            remaining=max(0, remaining),
            reset_s=math.ceil(reset_ms / 1000),
            retry_after_s=max(1, math.ceil(retry_ms / 1000)) if not allowed else 0,
        )

    async def close(self) -> None:
        await self._store.close()
