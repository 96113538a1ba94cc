"""The arena's guards against one client, on SQLite and PostgreSQL, with API keys: the usage
summary names no side before the vote, the daily caps are per (key, user) and per key, and a
side streams once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from multimodel.auth.keys import create_key
from multimodel.store import make_engine
from tests.fakes.upstream import Fail, FakeUpstream, Reply
from tests.preference.conftest import Arena, Battle, fake_models, gateway, usage_row
from tests.support.databases import postgres_schema
from tests.support.gateway import GatewayProcess

POOL = ["gd-alpha", "gd-beta"]
PRICES = {"gd-alpha": (100.0, 300.0), "gd-beta": (200.0, 700.0)}  # USD per million tokens, in/out
VOTES_PER_USER, VOTES_PER_KEY = 2, 3
BATTLES_PER_USER, BATTLES_PER_KEY = 3, 6


@dataclass
class Guarded:
    gw: GatewayProcess
    database: str

    def client(self, admin: bool = False) -> httpx.Client:
        """A client with a new API key of its own."""
        engine = make_engine(self.database)
        try:
            _, secret = create_key(engine, "key-" + secrets.token_hex(4), admin=admin)
        finally:
            engine.dispose()
        return httpx.Client(base_url=self.gw.url, headers={"authorization": f"Bearer {secret}"}, timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def guarded(
    request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guarded]:
    workdir = tmp_path_factory.mktemp("guards")
    models = fake_models(upstream, *POOL)
    for m in models:
        m["price"] = dict(zip(("input_per_mtok", "output_per_mtok"), PRICES[m["name"]], strict=True))
    preference = {
        "arena_pool": POOL,
        "votes_per_user_per_day": VOTES_PER_USER,
        "votes_per_key_per_day": VOTES_PER_KEY,
        "battles_per_user_per_day": BATTLES_PER_USER,
        "battles_per_key_per_day": BATTLES_PER_KEY,
        "bootstrap_rounds": 100,
    }
    auth = {"require_keys": True, "refresh_seconds": 0.2}
    with ExitStack() as stack:
        database = (
            f"sqlite:///{workdir / 'usage.db'}"
            if request.param == "sqlite"
            else stack.enter_context(postgres_schema())
        )
        gw = stack.enter_context(gateway(workdir, models, preference, database, auth))
        yield Guarded(gw, database)


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


def streamed(guarded: Guarded, arena: Arena, battle: Battle, side: str) -> dict[str, Any]:
    """Stream one side; its usage row, once written."""
    r = arena.stream(battle, side)
    assert r.status_code == 200, r.text
    return usage_row(guarded.database, r.headers["x-request-id"])


# First in the module: every other test's rows are written and settled before it reads the
# summary of the whole gateway (the admin's).
def test_the_usage_summary_names_no_side_before_the_vote(guarded: Guarded) -> None:
    voter, admin = guarded.client(), guarded.client(admin=True)
    arena = Arena(voter)

    def seen() -> list[dict[str, Any]]:
        views = []
        for c in (voter, admin):
            s = c.get("/v1/usage/summary", params={"range": "1h"}).json()
            busy = [b for b in s["buckets"] if b["requests"]]
            views.append(
                {k: s[k] for k in ("totals", "models", "providers", "errors", "latency_sample")}
                | {"buckets": busy}
            )
        return views

    before = seen()
    battle = arena.create(user="curious")
    answers = {}
    for side in "ab":
        answers[side] = streamed(guarded, arena, battle, side)
        # Priced: cost ÷ tokens would be the model's price, if the summary moved.
        assert answers[side]["cost_usd"] > 0 and answers[side]["output_tokens"] > 0
        assert seen() == before, f"side {side} shows in the summary before the vote"

    vote = arena.vote(battle, "a")
    assert vote.status_code == 200, vote.text
    after = voter.get("/v1/usage/summary", params={"range": "1h"}).json()
    assert after["totals"]["requests"] == before[0]["totals"]["requests"] + 2
    cost = sum(a["cost_usd"] for a in answers.values())
    assert after["totals"]["cost_usd"] == pytest.approx(before[0]["totals"]["cost_usd"] + cost)
    assert {m["model"] for m in after["models"]} >= set(POOL)  # the names, now that they are known


def test_a_side_streams_once(guarded: Guarded, up: FakeUpstream) -> None:
    arena = Arena(guarded.client())
    battle = arena.create()
    assert arena.stream(battle, "a").status_code == 200
    again = error(arena.stream(battle, "a"), 409)
    assert again["code"] == "side_already_streamed" and again["type"] == "invalid_request_error"
    assert up.calls == 1  # the model ran (and billed) once

    up.push(Reply("a slow answer", delay=0.5))  # two GETs at once: one claims the side

    def get(_: int) -> httpx.Response:
        return arena.client.get(battle.created["b"]["stream"])

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(r.status_code for r in pool.map(get, range(2)))
    assert statuses == [200, 409] and up.calls == 2
    assert arena.vote(battle, "tie").status_code == 200


def test_a_side_whose_answer_never_began_may_be_asked_again(guarded: Guarded, up: FakeUpstream) -> None:
    arena = Arena(guarded.client())
    battle = arena.create()
    up.push(Fail(500))
    assert arena.stream(battle, "a").status_code == 502
    assert error(arena.vote(battle, "a"), 400)["message"].startswith("stream both answers")
    assert arena.stream(battle, "a").status_code == 200
    assert arena.stream(battle, "b").status_code == 200
    assert arena.vote(battle, "a").status_code == 200
    assert up.calls == 3


def votes_until_refused(arena: Arena, user: str | None = None, limit: int = 10) -> int:
    """Votes cast (each on a new battle) before one is refused for the cap."""
    for cast in range(limit):
        battle = arena.create(**({"user": user} if user else {}))
        for side in "ab":
            assert arena.stream(battle, side).status_code == 200
        r = arena.vote(battle, "a")
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "vote_limit"
            return cast
        assert r.status_code == 200, r.text
    return limit


def test_anonymous_votes_are_counted_per_key(guarded: Guarded) -> None:
    assert votes_until_refused(Arena(guarded.client())) == VOTES_PER_USER
    assert votes_until_refused(Arena(guarded.client()), limit=1) == 1  # another key's are its own


def test_a_key_cannot_lock_out_another_keys_user(guarded: Guarded) -> None:
    alice = "alice@example.com"
    assert votes_until_refused(Arena(guarded.client()), user=alice) == VOTES_PER_USER
    assert votes_until_refused(Arena(guarded.client()), user=alice, limit=1) == 1


def test_a_new_user_on_each_vote_meets_the_per_key_cap(guarded: Guarded) -> None:
    arena = Arena(guarded.client())
    for k in range(VOTES_PER_KEY):
        arena.play("b", user=f"sock-{k}")
    battle = arena.create(user="sock-new")
    for side in "ab":
        arena.stream(battle, side)
    err = error(arena.vote(battle, "b", user="sock-newer"), 429)
    assert err["code"] == "vote_limit" and f"{VOTES_PER_KEY} votes per day per API key" in err["message"]


def test_battles_are_capped_per_key_and_user_and_per_key(guarded: Guarded) -> None:
    mine, theirs = Arena(guarded.client()), Arena(guarded.client())
    for _ in range(BATTLES_PER_USER):
        mine.create()
    r = mine.client.post("/v1/arena/battles", json={"prompt": "one more"})
    assert error(r, 429)["code"] == "battle_limit"
    theirs.create()  # another key's anonymous callers have their own budget
    for k in range(BATTLES_PER_KEY - BATTLES_PER_USER):
        mine.create(user=f"new-{k}")
    r = mine.client.post("/v1/arena/battles", json={"prompt": "one more", "user": "newest"})
    assert "per API key" in error(r, 429)["message"]
