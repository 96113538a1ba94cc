"""Gateways for the preference API tests: fake-upstream models, a preference section, real SQLite
(or PostgreSQL), and a small arena client over plain HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream
from tests.support.databases import postgres_schema, rows
from tests.support.gateway import GatewayProcess


def fake_models(up: FakeUpstream, *names: str) -> list[dict[str, Any]]:
    """One model per name; all answer through the fake upstream (which echoes the prompt)."""
    return [
        {"name": n, "provider": "openai-compatible", "model": f"upstream-{n}", "api_base": up.openai_base}
        for n in names
    ]


def gateway(
    workdir: Path,
    models: list[dict[str, Any]],
    preference: dict[str, Any],
    database: str | None = None,
    auth: dict[str, Any] | None = None,
) -> GatewayProcess:
    """A gateway to run in a `with` block; SQLite in `workdir` unless `database` is given."""
    config = {
        "database": database or f"sqlite:///{workdir / 'usage.db'}",
        "models": models,
        "preference": preference,
        **({"auth": auth} if auth is not None else {}),
    }
    return GatewayProcess(workdir, config, env=KEY_ENV)


def usage_row(database: str, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """A request's usage row, once the gateway's writer has written it (it batches in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in rows(database, "usage") if r["request_id"] == request_id]
        if found or time.monotonic() > deadline:
            assert found, f"no usage row for {request_id}"
            return found[0]
        time.sleep(0.05)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL, dropped afterwards."""
    with postgres_schema() as url:
        yield url


@dataclass
class Battle:
    id: str
    created: dict[str, Any]
    answers: dict[str, httpx.Response]


class Arena:
    """Battles over HTTP, as a client would drive them."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def create(self, **body: Any) -> Battle:
        r = self.client.post("/v1/arena/battles", json={"prompt": "Which is better?", **body})
        assert r.status_code == 200, r.text
        return Battle(r.json()["id"], r.json(), {})

    def stream(self, battle: Battle, side: str) -> httpx.Response:
        r = self.client.get(battle.created[side]["stream"])
        battle.answers[side] = r
        return r

    def vote(self, battle: Battle, winner: str, **body: Any) -> httpx.Response:
        return self.client.post(battle.created["vote"], json={"winner": winner, **body})

    def play(self, winner: str, **body: Any) -> dict[str, Any]:
        """Create, stream both sides, vote; the vote's answer (with the names)."""
        create = {k: v for k, v in body.items() if k in ("category", "user")}
        battle = self.create(**create)
        for side in "ab":
            assert self.stream(battle, side).status_code == 200
        r = self.vote(battle, winner, **{k: v for k, v in body.items() if k == "user"})
        assert r.status_code == 200, r.text
        return dict(r.json())
