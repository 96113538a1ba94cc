"""The arena's daily caps in the store, on SQLite and PostgreSQL: concurrent requests cannot pass
a cap together, and imported battles count toward no caller's."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.engine import Engine

from multimodel.preference import store
from multimodel.preference.battles import Battle
from multimodel.preference.store import BattleRow, Caps
from multimodel.store import make_engine, upgrade
from tests.support.databases import postgres_schema

T = TypeVar("T")
ROOMY = Caps(per_user=1000, per_key=1000)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'caps.db'}")
        upgrade(e)
        yield e
        e.dispose()
        return
    with postgres_schema() as url:
        e = make_engine(url)
        upgrade(e)
        yield e
        e.dispose()


def battle(n: int, key_id: str | None = None, user: str | None = None) -> BattleRow:
    return BattleRow(f"bat_{n}", time.time(), "m1", "m2", "[]", user, None, "ra", "rb", None, key_id)


def all_at_once(fn: Callable[[int], T], n: int) -> list[T]:
    """fn(0) ... fn(n - 1), each in its own thread, released together."""
    start = threading.Barrier(n)

    def run(k: int) -> T:
        start.wait()
        return fn(k)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_votes_stay_within_the_caps(engine: Engine) -> None:
    for n in range(16):
        assert store.create_battle(engine, battle(n, "key_1"), ROOMY) == "ok"
    caps = Caps(per_user=3, per_key=5)

    def vote(n: int) -> str:
        user = "alice" if n < 8 else f"user-{n}"
        return store.record_vote(engine, f"bat_{n}", "tie", user, "key_1", time.time(), caps)

    outcomes = all_at_once(vote, 16)
    assert Counter(outcomes[:8])["recorded"] <= 3  # alice's own cap
    assert Counter(outcomes)["recorded"] == 5  # the key's


def test_concurrent_battles_stay_within_the_caps(engine: Engine) -> None:
    caps = Caps(per_user=4, per_key=6)
    outcomes = all_at_once(lambda n: store.create_battle(engine, battle(n, "key_1", f"u{n % 2}"), caps), 12)
    assert Counter(outcomes)["ok"] == 6  # the key's cap
    made = Counter(b.user for n in range(12) if (b := store.get_battle(engine, f"bat_{n}")) is not None)
    assert sum(made.values()) == 6 and max(made.values()) <= 4  # and each user's


def test_imported_battles_count_toward_no_callers_caps(engine: Engine) -> None:
    """Without API keys, every caller together is one key: imports (no key either) must not use it up."""
    store.import_battles(engine, [Battle("m1", "m2", "tie")] * 5, "abc", time.time(), user="anyone")
    caps = Caps(per_user=2, per_key=3)
    made = [
        store.create_battle(engine, battle(n, user="anyone" if n < 3 else f"u{n}"), caps) for n in range(5)
    ]
    assert made == ["ok", "ok", "over_user_cap", "ok", "over_key_cap"]
    votes = [
        store.record_vote(engine, f"bat_{n}", "tie", "anyone", None, time.time(), caps) for n in (0, 1, 3)
    ]
    assert votes == ["recorded", "recorded", "over_user_cap"]
