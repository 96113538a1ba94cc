"""Token buckets for requests per minute: in this process, and shared through the local Redis."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest

from multimodel.auth.limits import LocalBuckets, RedisBuckets
from tests.fakes.upstream import closed_port_url

REDIS = "redis://127.0.0.1:6379/0"


def test_local_bucket_allows_rpm_then_says_how_long_to_wait() -> None:
    async def run() -> list[float]:
        buckets = LocalBuckets()
        return [await buckets.take("k", 3) for _ in range(4)]

    waits = asyncio.run(run())
    assert waits[:3] == [0.0, 0.0, 0.0] and 19 < waits[3] <= 20  # one token per 20 s at 3 rpm


def test_replicas_share_one_bucket_in_redis() -> None:
    async def run() -> list[float]:
        a, b = RedisBuckets(REDIS), RedisBuckets(REDIS)  # two replicas
        key = "test-" + secrets.token_hex(6)
        try:
            return [await r.take(key, 3) for r in (a, b, a, b)]
        finally:
            await a.close()
            await b.close()

    waits = asyncio.run(run())
    assert waits[:3] == [0.0, 0.0, 0.0], waits
    assert 19 < waits[3] <= 20, waits


def test_an_unreachable_redis_lets_requests_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url().replace("http://", "redis://")

    async def run() -> list[float]:
        buckets = RedisBuckets(url)
        try:
            return [await buckets.take("k", 1) for _ in range(3)]
        finally:
            await buckets.close()

    with caplog.at_level(logging.WARNING, logger="multimodel"):
        assert asyncio.run(run()) == [0.0, 0.0, 0.0]
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once, not per request
