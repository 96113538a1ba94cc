"""KeyGuard: who is calling, checked in memory on every request.

The active keys and their spend are loaded from the database in the background every
`refresh_seconds`, so a request costs one SHA-256 and a dict lookup. A key this replica has not
seen yet (just created by `multimodel keys create`) triggers an early reload, at most once a
second, so a flood of wrong keys cannot turn into a flood of queries.

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
        self._missed_at = -math.inf  # the last reload an unknown key caused
        self._reload: asyncio.Lock | None = None
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
        if key is None and time.monotonic() - self._missed_at > RELOAD_AT_MOST_EVERY_S:
            self._missed_at = time.monotonic()
            await self.reload()
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
            by_hash, spend = await asyncio.to_thread(active_keys, self._engine)
            # The log may not have this replica's latest rows yet: never count less than known.
            for key_id, known in self._spend.items():
                spend[key_id] = max(spend.get(key_id, 0.0), known)
            self._by_hash, self._spend = by_hash, spend

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
