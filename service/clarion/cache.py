"""A small read-through cache whose entries are never older than `ttl_s`.

Used for the hot-path lookups of the API (API keys by token hash, events by
their slugs): a value is loaded on a miss and served from memory until `ttl_s`
seconds after its load *started*, so a change in the database (a revoked key, a
locked event) is seen within `ttl_s`. Concurrent misses for the same key share
one load. Misses are cached too (the loader returns `None` for "not there").
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """`await cache.get(key)`: the loader's value for `key`, at most `ttl_s` seconds old."""

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        ttl_s: float = 1.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._fill(key))
            self._loading[key] = loading
            loading.add_done_callback(lambda done: self._loaded(key, done))
        # Shielded: one caller going away (a client disconnect) does not cancel the others' load.
        return await asyncio.shield(loading)

    def clear(self) -> None:
        self._entries.clear()

    async def _fill(self, key: K) -> V:
        started = self._clock()
        value = await self._load(key)
        if len(self._entries) >= self._max_entries:
            self._evict(started)
        self._entries[key] = (started + self._ttl_s, value)
        return value

    def _loaded(self, key: K, done: asyncio.Future[V]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if not done.cancelled():
            done.exception()  # retrieved here, so a failure nobody awaited is not logged as lost

    def _evict(self, now: float) -> None:
        expired = [key for key, (expires, _) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
