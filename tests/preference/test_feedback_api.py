"""POST /v1/feedback against a real gateway and database: ratings of real answers, upserts,
errors in the OpenAI shape, and the satisfaction table they feed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.preference.conftest import Arena, fake_models, gateway, rows
from tests.support.gateway import GatewayProcess


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("feedback")
    with gateway(workdir, fake_models(upstream, "fb-one", "fb-two"), {"bootstrap_rounds": 50}) as g:
        yield g


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        yield c


def database(gw: GatewayProcess) -> str:
    return f"sqlite:///{gw.workdir / 'usage.db'}"


def answer(gw: GatewayProcess, model: str = "fb-one", stream: bool = False) -> tuple[str, str]:
    """(request id, response id) of a real answer."""
    sdk = openai.OpenAI(base_url=gw.openai_base, api_key="unused", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "rate me"}]
    )
    return raw.headers["x-request-id"], raw.parse().id


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return dict(body)


def test_a_rating_of_a_real_answer_is_stored(gw: GatewayProcess, client: httpx.Client) -> None:
    # Sent at once: the usage row may still be in the writer's queue, and must be waited for.
    request_id, _ = answer(gw)
    body = {"request_id": request_id, "rating": "up", "user": "ann", "comment": "crisp", "category": "code"}
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["object"] == "feedback"
    assert {k: got[k] for k in body} == body
    assert got["score"] is None and got["created_at"] == got["updated_at"]
    assert "model" not in got and "fb-one" not in r.text  # feedback never names the model
    stored = [row for row in rows(database(gw), "feedback") if row["request_id"] == request_id]
    assert len(stored) == 1
    assert (stored[0]["user"], stored[0]["rating"], stored[0]["comment"]) == ("ann", "up", "crisp")


def test_the_response_id_works_as_the_request_id(gw: GatewayProcess, client: httpx.Client) -> None:
    request_id, response_id = answer(gw)
    assert response_id == f"chatcmpl-{request_id}"
    r = client.post("/v1/feedback", json={"request_id": response_id, "score": 4})
    assert r.status_code == 200, r.text
    assert r.json()["request_id"] == request_id and r.json()["user"] is None


def test_an_unknown_request_id_is_404(client: httpx.Client) -> None:
    r = client.post("/v1/feedback", json={"request_id": "req_000000000000000000000000", "rating": "up"})
    err = error(r, 404)
    assert err["param"] == "request_id" and err["code"] == "request_not_found"
    assert "req_000000000000000000000000" in err["message"]


def test_a_second_rating_by_the_same_user_replaces_the_first(
    gw: GatewayProcess, client: httpx.Client
) -> None:
    request_id, _ = answer(gw)
    first = client.post("/v1/feedback", json={"request_id": request_id, "rating": "up", "user": "bob"}).json()
    second = client.post(
        "/v1/feedback", json={"request_id": request_id, "rating": "down", "score": 2, "user": "bob"}
    ).json()
    assert (second["rating"], second["score"]) == ("down", 2)
    assert second["created_at"] == first["created_at"] and second["updated_at"] >= first["updated_at"]
    # Another user's rating of the same answer is its own row; anonymous ones upsert too.
    client.post("/v1/feedback", json={"request_id": request_id, "rating": "up", "user": "cy"})
    for rating in ("up", "down"):
        assert (
            client.post("/v1/feedback", json={"request_id": request_id, "rating": rating}).status_code == 200
        )
    stored = {r["user"]: r for r in rows(database(gw), "feedback") if r["request_id"] == request_id}
    assert set(stored) == {"bob", "cy", ""}
    assert (stored["bob"]["rating"], stored["bob"]["score"]) == ("down", 2)
    assert stored[""]["rating"] == "down"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"rating": "up", "score": 6}, "score"),
        ({"score": 0}, "score"),
        ({"score": "5"}, "score"),
        ({"score": True}, "score"),
        ({"rating": "meh"}, "rating"),
        ({}, "rating"),
        ({"rating": "up", "stars": 5}, "stars"),
        ({"rating": "up", "user": 7}, "user"),
        ({"rating": "up", "comment": ["x"]}, "comment"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client: httpx.Client, body: dict[str, Any], param: str) -> None:
    r = client.post("/v1/feedback", json={"request_id": "req_x", **body})
    err = error(r, 400)
    assert err["param"] == param and err["type"] == "invalid_request_error"
    assert param in err["message"]


def test_missing_request_id_and_bad_json(client: httpx.Client) -> None:
    assert error(client.post("/v1/feedback", json={"rating": "up"}), 400)["param"] == "request_id"
    r = client.post("/v1/feedback", content=b"{not json", headers={"content-type": "application/json"})
    assert "not valid JSON" in error(r, 400)["message"]


def test_feedback_feeds_the_satisfaction_table(gw: GatewayProcess, client: httpx.Client) -> None:
    for rating, score in (("up", 5), ("up", 4), ("down", 1)):
        request_id, _ = answer(gw, "fb-two")
        r = client.post(
            "/v1/feedback", json={"request_id": request_id, "rating": rating, "score": score, "user": "sat"}
        )
        assert r.status_code == 200
    board = client.get("/v1/leaderboard").json()
    two = next(row for row in board["satisfaction"] if row["model"] == "fb-two")
    assert (two["thumbs_up"], two["thumbs"], two["scores"]) == (2, 3, 3)
    assert two["mean_score"] == pytest.approx(10 / 3)
    assert two["rate_low"] < 2 / 3 < two["rate_high"]


def test_an_arena_answer_is_judged_by_its_vote_not_by_feedback(client: httpx.Client) -> None:
    # Rating it would move its model's satisfaction row, which would name the model before the vote.
    arena = Arena(client)
    battle = arena.create(user="rater")
    request_id = arena.stream(battle, "a").headers["x-request-id"]
    r = client.post("/v1/feedback", json={"request_id": request_id, "rating": "up", "user": "rater"})
    err = error(r, 400)
    assert (err["param"], err["code"]) == ("request_id", "arena_answer")
    assert "fb-one" not in r.text and "fb-two" not in r.text


def test_feedback_and_arena_on_postgres(up: FakeUpstream, tmp_path: Path, postgres_url: str) -> None:
    models = fake_models(up, "pg-one", "pg-two")
    with gateway(tmp_path, models, {"bootstrap_rounds": 50}, database=postgres_url) as g:
        request_id, _ = answer(g, "pg-one")
        with httpx.Client(base_url=g.url, timeout=30) as c:
            for rating in ("up", "down"):
                body = {"request_id": request_id, "rating": rating, "user": "pg"}
                assert c.post("/v1/feedback", json=body).status_code == 200
            vote = Arena(c).play("a", user="pg", category="pg")
            assert {vote["a"]["model"], vote["b"]["model"]} == {"pg-one", "pg-two"}
            assert Arena(c).vote(Arena(c).create(), "a").status_code == 400  # answers not streamed
    [fb] = rows(postgres_url, "feedback")
    assert (fb["request_id"], fb["user"], fb["rating"]) == (request_id, "pg", "down")
    [battle] = [b for b in rows(postgres_url, "battles") if b["user"] == "pg"]
    [stored_vote] = rows(postgres_url, "votes")
    assert stored_vote["battle_id"] == battle["id"] and stored_vote["winner"] == "model_a"
    assert battle["model_a"] == vote["a"]["model"] and battle["category"] == "pg"
