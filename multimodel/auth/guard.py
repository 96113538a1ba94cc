"""KeyGuard: who is calling, checked in memory on every request.

The active keys and their spend are loaded from the database in the background every
`refresh_seconds`, so a request costs one SHA-256 and a dict lookup. A key this replica has not
seen yet (just created by `multimodel keys create`) waits for a reload that starts after it
arrived: at once, unless another unknown key caused one less than a second ago. Those reloads are
shared by every request waiting, so a flood of wrong keys cannot turn into a flood of queries
(a wrong key then waits up to a second for its 401).

Limits are soft. The rate limit is a token bucket of `rpm` requests a minute, per replica, or
shared by all replicas through Redis (`auth.redis_url`; multimodel.auth.limits). The budget is
checked before a request (spend = the usage log's sum, plus what this replica charged since), so
the request that crosses it still finishes.
"""

from __future__ import annotations

import asyncio
import math
import time

from sqlalchemy.engine import Engine

from multimodel.auth.keys import KeyRecord, active_keys, hash_secret
from multimodel.auth.limits import Buckets, LocalBuckets, RedisBuckets
from multimodel.errors import GatewayError
from multimodel.periodic import Periodic

RELOAD_AT_MOST_EVERY_S = 1.0


class KeyGuard:
    def __init__(self, engine: Engine, refresh_seconds: float = 10.0, redis_url: str | None = None) -> None:
        self._engine = engine
        self._by_hash: dict[str, KeyRecord] = {}
        self._spend: dict[str, float] = {}
        self._buckets: Buckets = RedisBuckets(redis_url) if redis_url else LocalBuckets()
        self._reload: asyncio.Lock | None = None
        self._miss_reload_at = -math.inf  # when the latest reload for unknown keys began
        self._fresh_since = -math.inf  # the keys in memory include every key created before this
        self._pending: asyncio.Future[None] | None = None  # the next reload that unknown keys wait for
        self._periodic = Periodic("api keys", self.reload, refresh_seconds)

    async def admit(self, secret: str | None) -> KeyRecord:
        """The key of this secret, if it may make a request now; else a 401 or 429 GatewayError."""
        if not secret:
            raise GatewayError(
                "authentication",
                "this gateway needs an API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'",
                code="invalid_api_key",
            )
        digest = hash_secret(secret)
        key = self._by_hash.get(digest)
        if key is None:
            await self._reload_after(time.monotonic())
            key = self._by_hash.get(digest)
        if key is None:
            raise GatewayError("authentication", "invalid API key", code="invalid_api_key")
        self._check_budget(key)
        await self._take_token(key)
        return key

    def charge(self, key_id: str, cost_usd: float) -> None:
        """A finished request's cost (from the usage row), counted until the next reload."""
        self._spend[key_id] = self._spend.get(key_id, 0.0) + cost_usd

    def spend(self, key_id: str) -> float:
        return self._spend.get(key_id, 0.0)

    async def reload(self) -> None:
        if self._reload is None:
            self._reload = asyncio.Lock()
        async with self._reload:
            started = time.monotonic()
            by_hash, spend = await asyncio.to_thread(active_keys, self._engine)
            # The log may not have this replica's latest rows yet: never count less than known.
            for key_id, known in self._spend.items():
                spend[key_id] = max(spend.get(key_id, 0.0), known)
            self._by_hash, self._spend = by_hash, spend
            self._fresh_since = max(self._fresh_since, started)

    async def _reload_after(self, t: float) -> None:
        """Return once a reload that began at or after `t` has finished (or failed)."""
        while self._fresh_since < t:
            if self._pending is None:
                self._pending = asyncio.ensure_future(self._paced_reload())
            pending = self._pending
            try:
                await asyncio.shield(pending)
            except Exception:
                return  # the database is unreachable: judge by the keys already in memory

    async def _paced_reload(self) -> None:
        try:
            wait = self._miss_reload_at + RELOAD_AT_MOST_EVERY_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._miss_reload_at = time.monotonic()
            await self.reload()
        finally:
            self._pending = None

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()
        await self._buckets.close()

    def _check_budget(self, key: KeyRecord) -> None:
        if key.budget_usd is not None and self.spend(key.id) >= key.budget_usd:
            raise GatewayError(
                "rate_limit",
                f"API key {key.name!r} has used its budget of ${key.budget_usd:g}",
                code="insufficient_quota",
            )

    async def _take_token(self, key: KeyRecord) -> None:
        if key.rpm is None:
            return
        wait = await self._buckets.take(key.id, key.rpm)
        if wait > 0:
            raise GatewayError(
                "rate_limit",
                f"API key {key.name!r} is limited to {key.rpm} requests per minute",
                retry_after=str(max(1, math.ceil(wait))),
                code="rate_limit_exceeded",
            )
