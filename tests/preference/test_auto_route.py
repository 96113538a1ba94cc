"""The `auto` route against a real gateway: one candidate per request (named in the answer and
the usage row), the price cap, exploration floors, and a picker that follows new votes within
the refresh interval."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
import sqlalchemy as sa

from multimodel.store.tables import battles, votes
from tests.fakes.upstream import FakeUpstream
from tests.preference.conftest import gateway, usage_row
from tests.support.databases import rows, sa_url
from tests.support.gateway import GatewayProcess

CANDIDATES = ["c-best", "c-mid", "c-low"]  # c-pricey is over the price cap
FLOOR = 0.1
REFRESH_S = 0.5


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    up = upstream
    models = [
        {"name": "c-best", "provider": "openai-compatible", "model": "u-best", "api_base": up.openai_base},
        {
            "name": "c-mid",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_base": up.openai_base,
            "api_key_env": "MM_TEST_OPENAI_KEY",
            "price": {"input_per_mtok": 2.5, "output_per_mtok": 10},
        },
        {
            "name": "c-low",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "api_base": up.anthropic_base,
            "api_key_env": "MM_TEST_ANTHROPIC_KEY",
        },
        {
            "name": "c-pricey",
            "provider": "openai-compatible",
            "model": "u-pricey",
            "api_base": up.openai_base,
            "price": {"input_per_mtok": 60, "output_per_mtok": 60},
        },
    ]
    preference = {
        "auto": {
            "candidates": [*CANDIDATES, "c-pricey"],
            "floor": FLOOR,
            "max_price_per_mtok": 100,
            "refresh_seconds": REFRESH_S,
        },
        "bootstrap_rounds": 200,
    }
    with gateway(tmp_path_factory.mktemp("auto"), models, preference) as g:
        yield g


def database(gw: GatewayProcess) -> str:
    return f"sqlite:///{gw.workdir / 'usage.db'}"


def picks(client: httpx.Client, n: int) -> Counter[str]:
    body = {"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    got: Counter[str] = Counter()
    for _ in range(n):
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        got[r.json()["model"]] += 1
    return got


def test_auto_answers_with_one_candidate_and_says_which(gw: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gw.openai_base, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello"}]
    )
    completion = raw.parse()
    assert completion.model in CANDIDATES
    assert completion.choices[0].message.content == "Echo: hello"
    row = usage_row(database(gw), raw.headers["x-request-id"])
    assert (row["public_model"], row["route"], row["status"]) == (completion.model, "auto", 200)

    stream = client.chat.completions.create(
        model="auto", stream=True, messages=[{"role": "user", "content": "hello"}]
    )
    models = {chunk.model for chunk in stream}
    assert len(models) == 1 and models <= set(CANDIDATES)

    message = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0).messages.create(
        model="auto", max_tokens=20, messages=[{"role": "user", "content": "hello"}]
    )
    assert message.model in CANDIDATES and message.content[0].text == "Echo: hello"  # type: ignore[union-attr]

    assert "auto" in [m.id for m in client.models.list()]
    assert client.models.retrieve("auto").owned_by == "multimodel"


def test_feedback_on_an_auto_answer_lands_on_the_model_that_answered(gw: GatewayProcess) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "x"}]}
        )
        model = r.json()["model"]
        fb = c.post("/v1/feedback", json={"request_id": r.json()["id"], "rating": "up", "user": "auto-fb"})
        assert fb.status_code == 200, fb.text
        satisfaction = {row["model"]: row for row in c.get("/v1/leaderboard").json()["satisfaction"]}
    assert satisfaction[model]["thumbs_up"] >= 1


def seed_votes(database: str) -> None:
    """Arena results in which c-best is clearly best: (winner, loser, times)."""
    results = [
        ("c-best", "c-mid", 24),
        ("c-mid", "c-best", 4),
        ("c-best", "c-low", 24),
        ("c-low", "c-best", 4),
        ("c-mid", "c-low", 18),
        ("c-low", "c-mid", 10),
    ]
    now = time.time()
    battle_rows, vote_rows = [], []
    for winner, loser, times in results:
        for k in range(times):
            battle_id = f"bat_seed_{winner}_{loser}_{k}"
            battle_rows.append(
                {"id": battle_id, "created_at": now, "model_a": winner, "model_b": loser, "prompt": "[]"}
            )
            vote_rows.append({"battle_id": battle_id, "winner": "model_a", "user": "seed", "created_at": now})
    engine = sa.create_engine(sa_url(database))
    try:
        with engine.begin() as c:
            c.execute(sa.insert(battles), battle_rows)
            c.execute(sa.insert(votes), vote_rows)
    finally:
        engine.dispose()


def test_picks_follow_new_votes_within_the_refresh_interval_and_keep_floors(gw: GatewayProcess) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        before = picks(client, 150)
        # No votes yet: every candidate is equally unknown. Never the one over the price cap.
        assert set(before) == set(CANDIDATES)
        assert all(before[m] / 150 > 0.15 for m in CANDIDATES), before

        seed_votes(database(gw))
        seeded = time.monotonic()
        while True:
            batch = picks(client, 30)
            if batch["c-best"] / 30 >= 0.6:
                break
            assert time.monotonic() - seeded < 6 * REFRESH_S + 5, "the picker never saw the new votes"
        waited = time.monotonic() - seeded
        assert waited < REFRESH_S + 3  # one refresh interval, plus a loaded machine's slack

        n = 400
        after = picks(client, n)
    share = {m: after[m] / n for m in CANDIDATES}
    # Expected: c-best ~ 1 - 2 x floor = 0.8, the others about their floor 0.1 each.
    assert share["c-best"] > 0.65, share
    for m in ("c-mid", "c-low"):
        assert 0.04 < share[m] < 0.25, share
    assert "c-pricey" not in after
    assert sum(1 for r in rows(database(gw), "usage") if r["route"] == "auto") >= n + 150
