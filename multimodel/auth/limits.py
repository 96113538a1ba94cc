"""Requests-per-minute limits as token buckets: `rpm` tokens, refilled at rpm/60 a second.

`LocalBuckets` keeps them in this process (each replica counts its own requests). `RedisBuckets`
keeps them in Redis, so every replica draws from one bucket per key: one round trip per limited
request, the refill computed atomically in a Lua script with Redis's own clock. If Redis cannot
be reached the request is let through (and logged): a limiter outage must not become an outage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("multimodel")


class Buckets(Protocol):
    async def take(self, key_id: str, rpm: int) -> float:
        """0 if a request may go now (its token is taken), else the seconds until one may."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class LocalBuckets:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    async def take(self, key_id: str, rpm: int) -> float:
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(rpm), now)
        bucket.tokens = min(float(rpm), bucket.tokens + (now - bucket.at) * rpm / 60.0)
        bucket.at = now
        if bucket.tokens < 1.0:
            return (1.0 - bucket.tokens) * 60.0 / rpm
        bucket.tokens -= 1.0
        return 0.0

    async def close(self) -> None:
        return None


# KEYS[1] the bucket; ARGV[1] rpm. Returns the wait in seconds as a string ("0": taken).
_TAKE = """
local rpm = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or rpm
local at = tonumber(state[2]) or now
tokens = math.min(rpm, tokens + math.max(0, now - at) * rpm / 60)
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) * 60 / rpm
else
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 120)
return tostring(wait)
"""


class RedisBuckets:
    PREFIX = "multimodel:rpm:"

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._script = self._redis.register_script(_TAKE)
        self._warned_at = -1e9

    async def take(self, key_id: str, rpm: int) -> float:
        try:
            return float(await self._script(keys=[self.PREFIX + key_id], args=[rpm]))
        except Exception as e:  # Redis down or slow: let the request through, say so once a minute
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("rate limits: Redis unavailable, not limiting (%s: %s)", type(e).__name__, e)
            return 0.0

    async def close(self) -> None:
        await self._redis.aclose()
