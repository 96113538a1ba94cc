"""The arena against a real gateway and database: anonymous battles streamed as OpenAI SSE, one
vote per battle revealing the names, abuse limits, and the leaderboard the votes make."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from multimodel.preference.live import Standings
from multimodel.preference.pairing import pair_weights
from tests.fakes.upstream import BreakStream, Fail, FakeUpstream, StreamError
from tests.preference.conftest import Arena, fake_models, gateway, rows, usage_row
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_openai_stream

POOL = ["ar-alpha", "ar-beta"]
NAMES = (*POOL, "ar-gamma", "upstream-")  # nothing before the vote may contain these
CAP = 3


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    preference = {"arena_pool": POOL, "votes_per_user_per_day": CAP, "bootstrap_rounds": 100}
    workdir = tmp_path_factory.mktemp("arena")
    with gateway(workdir, fake_models(upstream, *POOL, "ar-gamma"), preference) as g:
        yield g


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        yield c


@pytest.fixture
def arena(client: httpx.Client) -> Arena:
    return Arena(client)


def assert_anonymous(r: httpx.Response) -> None:
    text = r.text + " ".join(f"{k}: {v}" for k, v in r.headers.items())
    for name in NAMES:
        assert name not in text, f"{name!r} revealed before the vote: {text[:300]}"


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


def test_a_full_round(gw: GatewayProcess, arena: Arena) -> None:
    battle = arena.create(user="round", category="chat")
    assert set(battle.created) == {"id", "object", "created_at", "a", "b", "vote"}
    assert battle.id.startswith("bat_")
    chunks = {}
    for side in "ab":
        r = arena.stream(battle, side)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert_anonymous(r)
        chunks[side] = check_openai_stream(r.content, include_usage=False)
        assert {c["model"] for c in chunks[side]} == {f"model-{side}"}
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[side])
        assert text == "Echo: Which is better?"
    r = arena.vote(battle, "b")
    assert r.status_code == 200, r.text
    vote = r.json()
    assert vote["object"] == "arena.vote" and vote["battle_id"] == battle.id and vote["winner"] == "b"
    model_a, model_b = vote["a"]["model"], vote["b"]["model"]
    assert {model_a, model_b} == set(POOL)  # two different models of the pool

    [stored] = [b for b in rows(database(gw), "battles") if b["id"] == battle.id]
    assert (stored["model_a"], stored["model_b"], stored["user"], stored["category"]) == (
        model_a,
        model_b,
        "round",
        "chat",
    )
    assert [v["winner"] for v in rows(database(gw), "votes") if v["battle_id"] == battle.id] == ["model_b"]
    # Each answer went through the chat flow: one usage row each, under the real model's name.
    for side, model in (("a", model_a), ("b", model_b)):
        assert stored[f"request_{side}"] == battle.answers[side].headers["x-request-id"]
        row = usage_row(database(gw), stored[f"request_{side}"])
        assert (row["endpoint"], row["public_model"], row["status"], row["stream"]) == (
            "arena",
            model,
            200,
            1,
        )
        assert row["answer"] == "Echo: Which is better?"

    assert error(arena.vote(battle, "a"), 409)["code"] == "already_voted"  # once per battle
    assert error(arena.stream(battle, "a"), 409)["code"] == "already_voted"


def database(gw: GatewayProcess) -> str:
    return f"sqlite:///{gw.workdir / 'usage.db'}"


def test_a_battle_from_messages(client: httpx.Client) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour"}]
    r = client.post("/v1/arena/battles", json={"messages": messages})
    assert r.status_code == 200, r.text
    answer = client.get(r.json()["b"]["stream"])
    events = check_openai_stream(answer.content, include_usage=False)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in events) == "Echo: Name a colour"


def test_votes_need_both_answers(arena: Arena) -> None:
    battle = arena.create()
    assert error(arena.vote(battle, "a"), 400)["message"].startswith("stream both answers")
    arena.stream(battle, "a")
    assert arena.vote(battle, "a").status_code == 400
    arena.stream(battle, "b")
    assert arena.vote(battle, "tie", user="needs-both").status_code == 200


def test_votes_per_user_per_day_are_capped(arena: Arena) -> None:
    for _ in range(CAP):
        arena.play("a", user="capper")
    battle = arena.create(user="capper")
    for side in "ab":
        arena.stream(battle, side)
    err = error(arena.vote(battle, "a"), 429)
    assert err["code"] == "vote_limit" and f"{CAP} votes" in err["message"]
    assert arena.vote(battle, "a", user="someone-else").status_code == 200  # the cap is per voter


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": 3}, "prompt"),
        ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "prompt"),
        ({}, "prompt"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "y"}]}, "messages[0].role"),
        ({"prompt": "x", "model": "ar-alpha"}, "model"),
        ({"prompt": "x", "user": ""}, "user"),
    ],
)
def test_bad_battles_are_400_naming_the_field(client: httpx.Client, body: dict[str, Any], param: str) -> None:
    r = client.post("/v1/arena/battles", json=body)
    assert error(r, 400)["param"] == param


def test_bad_votes_and_unknown_battles(arena: Arena, client: httpx.Client) -> None:
    battle = arena.create()
    for side in "ab":
        arena.stream(battle, side)
    for winner in ("c", None, ["a"], "model_a"):
        assert error(arena.vote(battle, winner), 400)["param"] == "winner"  # type: ignore[arg-type]
    assert error(client.get(f"/v1/arena/battles/{battle.id}/stream/c"), 404)["param"] == "side"
    unknown = "/v1/arena/battles/bat_nope"
    assert error(client.get(unknown + "/stream/a"), 404)["code"] == "battle_not_found"
    assert error(client.post(unknown + "/vote", json={"winner": "a"}), 404)["code"] == "battle_not_found"


def test_upstream_errors_do_not_name_the_model(arena: Arena, up: FakeUpstream) -> None:
    battle = arena.create(prompt="one two three four five six seven eight nine ten")
    up.push(Fail(500, message="upstream-ar-alpha is down"))
    r = arena.stream(battle, "a")
    assert error(r, 502)["message"] == "the model could not answer (upstream)"
    assert_anonymous(r)
    up.push(StreamError(after_chunks=2, message="upstream-ar-alpha overloaded"))
    assert_anonymous(arena.stream(battle, "a"))
    up.push(BreakStream(after_chunks=3))  # after the answer started: an error event ends the stream
    r = arena.stream(battle, "b")
    assert r.status_code == 200
    events = check_openai_stream(r.content, include_usage=False, allow_error=True)
    assert events[-1]["error"]["message"].startswith("the model could not answer")
    assert_anonymous(r)


def test_the_leaderboard_reflects_the_votes(arena: Arena, client: httpx.Client) -> None:
    wins: Counter[str] = Counter()
    # 15 decisive votes (never a draw in wins) and 5 ties: enough that bootstrap resamples keep
    # every rating defined (a resample without any tie has probability 0.75**20 = 0.3%).
    for k, winner in enumerate(["a", "a", "b", "tie"] * 5):
        vote = arena.play(winner, user=f"lb-{k}", category="lb")
        if winner != "tie":
            wins[vote[winner]["model"]] += 1
    best, worst = sorted(POOL, key=lambda m: -wins[m])
    board = client.get("/v1/leaderboard", params={"category": "lb"}).json()
    assert board["battles"] == 20 and board["category"] == "lb" and board["note"] is None
    rating = {row["model"]: row for row in board["leaderboard"]}
    assert set(rating) == set(POOL)
    assert rating[best]["rating"] > rating[worst]["rating"]
    assert rating[best]["wins"] == wins[best] and rating[best]["ties"] == 5 and rating[best]["votes"] == 20
    csv = client.get("/v1/leaderboard", params={"category": "lb", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("rank,model,rating")
    table = client.get("/v1/leaderboard", params={"category": "lb", "format": "table"})
    assert table.text.splitlines()[1].split()[1] == best
    assert error(client.get("/v1/leaderboard", params={"format": "xml"}), 400)["param"] == "format"
    empty = client.get("/v1/leaderboard", params={"category": "none-yet"}).json()
    assert (empty["battles"], empty["leaderboard"], empty["note"]) == (0, [], "no votes yet")


def test_an_old_battle_takes_no_vote(up: FakeUpstream, tmp_path: Path) -> None:
    preference = {"max_battle_age_hours": 1 / 3600}  # one second
    with gateway(tmp_path, fake_models(up, *POOL), preference) as g, httpx.Client(base_url=g.url) as c:
        arena = Arena(c)
        battle = arena.create()
        for side in "ab":
            usage_row(database(g), arena.stream(battle, side).headers["x-request-id"])
        time.sleep(1.2)
        err = error(arena.vote(battle, "a"), 410)
        assert err["code"] == "battle_expired" and "1 hours" not in err["message"]
        assert "closed" in err["message"]
        assert error(arena.stream(battle, "a"), 410)["code"] == "battle_expired"
        # Closed without a vote: its answers show in the usage summary now.
        models = c.get("/v1/usage/summary", params={"range": "1h"}).json()["models"]
        assert {m["model"] for m in models} == set(POOL)


def test_battles_created_per_user_per_day_are_capped(up: FakeUpstream, tmp_path: Path) -> None:
    preference = {"battles_per_user_per_day": 2, "battles_per_key_per_day": 6}
    with gateway(tmp_path, fake_models(up, *POOL), preference) as g, httpx.Client(base_url=g.url) as c:
        arena = Arena(c)
        arena.create(user="busy")
        arena.create(user="busy")
        r = c.post("/v1/arena/battles", json={"prompt": "one more", "user": "busy"})
        assert error(r, 429)["code"] == "battle_limit"
        arena.create(user="someone-else")  # per user
        arena.create()  # anonymous callers share one budget
        arena.create()
        assert error(c.post("/v1/arena/battles", json={"prompt": "x"}), 429)["code"] == "battle_limit"
        arena.create(user="a-third")
        # Without API keys, all callers together have one key's budget: `user` bounds nothing.
        r = c.post("/v1/arena/battles", json={"prompt": "x", "user": "a-fourth"})
        assert "6 battles per day in all" in error(r, 429)["message"]


def test_pairs_with_uncertain_outcomes_and_few_battles_are_favoured() -> None:
    pool = ["a", "b", "c"]
    fresh = pair_weights(pool, Standings())
    assert set(fresh) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert len(set(fresh.values())) == 1  # nothing known: all pairs alike
    known = Standings(
        ratings={"a": 1000.0, "b": 1010.0, "c": 1400.0},
        battles={("a", "b"): 50, ("a", "c"): 50, ("b", "c"): 0},
    )
    w = pair_weights(pool, known)
    assert w[("a", "b")] > w[("a", "c")]  # an even match teaches more than a lopsided one
    assert w[("b", "c")] > w[("a", "c")]  # and a pair that never met gets a bonus
