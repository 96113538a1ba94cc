"""API keys in the database: the secret is shown once and stored only as a hash; the guard admits,
limits and reloads them in memory."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.auth import guard as guard_module
from multimodel.auth.guard import KeyGuard
from multimodel.auth.keys import KeyCommandError, active_keys, create_key, list_keys, revoke_key
from multimodel.errors import GatewayError
from multimodel.store import make_engine, upgrade
from multimodel.store.tables import api_keys, usage


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(e)
    yield e
    e.dispose()


def test_only_the_hash_of_a_secret_is_stored(engine: Engine) -> None:
    record, secret = create_key(engine, "team-a", budget_usd=5.0, rpm=60, models=["m1", "m2"])
    assert secret.startswith("mm-") and len(secret) > 40
    with engine.connect() as c:
        row = c.execute(sa.select(api_keys)).mappings().one()
    assert secret not in {str(v) for v in row.values()}
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(row["prefix"]) and len(row["prefix"]) < 12
    assert (row["name"], row["budget_usd"], row["rpm"]) == ("team-a", 5.0, 60)
    assert record.models == frozenset({"m1", "m2"})
    assert create_key(engine, "team-b")[1] != secret


def test_names_are_unique_and_revoke_needs_an_active_key(engine: Engine) -> None:
    create_key(engine, "team-a")
    with pytest.raises(KeyCommandError, match="exists already"):
        create_key(engine, "team-a")
    assert revoke_key(engine, "team-a").revoked_at is not None
    with pytest.raises(KeyCommandError, match="no active key"):
        revoke_key(engine, "team-a")


def test_listing_sums_each_keys_spend_from_the_usage_log(engine: Engine) -> None:
    a, _ = create_key(engine, "a")
    b, _ = create_key(engine, "b")
    base = {"created_at": 1.0, "api_format": "openai", "endpoint": "chat", "public_model": "m"}
    base |= {"stream": False, "status": 200, "latency_ms": 1.0, "input_tokens": 1, "output_tokens": 1}
    with engine.begin() as c:
        c.execute(
            sa.insert(usage),
            [
                {**base, "request_id": "r1", "key_id": a.id, "cost_usd": 0.25},
                {**base, "request_id": "r2", "key_id": a.id, "cost_usd": 0.5},
                {**base, "request_id": "r3", "key_id": None, "cost_usd": 9.0},
                {**base, "request_id": "r4", "key_id": b.id, "cost_usd": None},
            ],
        )
    spend = {k.name: s for k, s in list_keys(engine)}
    assert spend == {"a": 0.75, "b": 0.0}


def test_the_guard_admits_known_keys_and_refuses_others(engine: Engine) -> None:
    async def run() -> None:
        guard = KeyGuard(engine)
        await guard.reload()
        # Created after the load: the guard reloads once on the unknown secret and finds it.
        record, secret = create_key(engine, "late")
        assert (await guard.admit(secret)).id == record.id
        for bad in (None, "", "mm-wrong"):
            with pytest.raises(GatewayError) as e:
                await guard.admit(bad)
            assert (e.value.status, e.value.code) == (401, "invalid_api_key")
        revoke_key(engine, "late")
        await guard.reload()
        with pytest.raises(GatewayError, match="invalid API key"):
            await guard.admit(secret)

    asyncio.run(run())


def test_rate_limit_is_a_token_bucket_with_retry_after(engine: Engine) -> None:
    async def run() -> None:
        _, secret = create_key(engine, "slow", rpm=3)
        guard = KeyGuard(engine)
        await guard.reload()
        for _ in range(3):
            await guard.admit(secret)
        with pytest.raises(GatewayError) as e:
            await guard.admit(secret)
        assert (e.value.status, e.value.code) == (429, "rate_limit_exceeded")
        assert e.value.retry_after is not None and 1 <= int(e.value.retry_after) <= 20

    asyncio.run(run())


def test_budget_counts_local_charges_until_the_log_has_them(engine: Engine) -> None:
    async def run() -> None:
        record, secret = create_key(engine, "capped", budget_usd=1.0)
        guard = KeyGuard(engine)
        await guard.reload()
        await guard.admit(secret)
        guard.charge(record.id, 0.6)
        await guard.admit(secret)
        guard.charge(record.id, 0.6)
        await guard.reload()  # the usage log has nothing yet: the local 1.2 is kept, not reset to 0
        with pytest.raises(GatewayError) as e:
            await guard.admit(secret)
        assert (e.value.status, e.value.code) == (429, "insufficient_quota")

    asyncio.run(run())


def test_a_key_created_just_after_a_wrong_one_is_still_admitted(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reloads for unknown keys are paced (one a second): the new key waits for the next one
    instead of being refused because a wrong key used up the last."""
    queries = []
    monkeypatch.setattr(guard_module, "active_keys", lambda e: queries.append(e) or active_keys(e))

    async def run() -> None:
        guard = KeyGuard(engine)
        await guard.reload()
        with pytest.raises(GatewayError, match="invalid API key"):
            await guard.admit("mm-wrong")  # causes a reload now
        record, secret = create_key(engine, "right-after")
        waiting = [guard.admit(secret) for _ in range(20)] + [guard.admit("mm-wrong-too")]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(getattr(r, "id", None) == record.id for r in results[:-1]), results
        assert isinstance(results[-1], GatewayError) and results[-1].status == 401
        assert len(queries) == 3  # the first load, the first wrong key, then one for all 21 waiting

    asyncio.run(run())
