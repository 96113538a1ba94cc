"""Traffic and votes for the UI tests and the README screenshots, made through the public API."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

import httpx
import sqlalchemy as sa

from tests.support.databases import sa_url


def battle_models(database: str, battle_id: str) -> tuple[str, str]:
    """The two models of a battle, from the database (the API names them only after the vote)."""
    engine = sa.create_engine(sa_url(database))
    try:
        with engine.connect() as c:
            a, b = c.execute(
                sa.text("SELECT model_a, model_b FROM battles WHERE id = :id"), {"id": battle_id}
            ).one()
    finally:
        engine.dispose()
    return str(a), str(b)


def play(
    client: httpx.Client,
    database: str,
    strength: Mapping[str, float],
    n: int,
    rng: random.Random,
    category: str | None = None,
    tie_rate: float = 0.15,
) -> None:
    """`n` arena battles whose votes follow Bradley–Terry strengths (p(a wins) = sa / (sa + sb))."""
    for _ in range(n):
        body: dict[str, Any] = {"prompt": "Say something.", "user": "seed"}
        if category is not None:
            body["category"] = category
        r = client.post("/v1/arena/battles", json=body)
        assert r.status_code == 200, r.text
        battle = r.json()
        for side in "ab":
            assert client.get(battle[side]["stream"]).status_code == 200
        a, b = battle_models(database, battle["id"])
        roll = rng.random()
        winner = (
            "tie"
            if roll < tie_rate
            else "a"
            if rng.random() < strength[a] / (strength[a] + strength[b])
            else "b"
        )
        assert client.post(battle["vote"], json={"winner": winner, "user": "seed"}).status_code == 200


def play_until_rated(
    client: httpx.Client, database: str, strength: Mapping[str, float], rng: random.Random, most: int = 80
) -> dict[str, Any]:
    """Battles until the leaderboard has ratings for every model in `strength`; the board."""
    for _ in range(most // 10):
        play(client, database, strength, 10, rng)
        board = dict(client.get("/v1/leaderboard").json())
        if {r["model"] for r in board["leaderboard"]} >= set(strength):
            return board
    raise AssertionError(f"no ratings after {most} battles: {board['note']}")


def wait_for_usage(client: httpx.Client, requests: int, timeout: float = 10.0) -> dict[str, Any]:
    """The usage summary once it counts at least `requests` (the gateway writes rows in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        summary = dict(client.get("/v1/usage/summary", params={"range": "1h"}).json())
        if summary["totals"]["requests"] >= requests or time.monotonic() > deadline:
            assert summary["totals"]["requests"] >= requests, summary["totals"]
            return summary
        time.sleep(0.05)


def chat(client: httpx.Client, model: str, text: str = "Hello there") -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]}
    )
