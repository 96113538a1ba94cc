"""Thumbs on the `auto` route's answers move its traffic: a real gateway, no arena at all."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.preference.conftest import fake_models, gateway
from tests.support.gateway import GatewayProcess

REFRESH_S = 0.3


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    preference = {
        "auto": {"candidates": ["t-liked", "t-disliked"], "floor": 0.05, "refresh_seconds": REFRESH_S},
        "bootstrap_rounds": 300,
    }
    models = fake_models(upstream, "t-liked", "t-disliked")
    with gateway(tmp_path_factory.mktemp("auto-fb"), models, preference) as g:
        yield g


def ask_auto(client: httpx.Client, n: int) -> list[tuple[str, str]]:
    """(model, request id) of n `auto` answers."""
    out = []
    for _ in range(n):
        r = client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert r.status_code == 200, r.text
        out.append((r.json()["model"], r.headers["x-request-id"]))
    return out


def test_users_thumbs_move_auto_traffic_to_the_model_they_like(gw: GatewayProcess) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        first = ask_auto(client, 60)
        before = Counter(m for m, _ in first)
        assert before["t-liked"] > 10 and before["t-disliked"] > 10, before  # nothing known yet
        for k, (model, request_id) in enumerate(first):
            rating = "up" if model == "t-liked" else "down"
            r = client.post(
                "/v1/feedback", json={"request_id": request_id, "rating": rating, "user": f"u{k}"}
            )
            assert r.status_code == 200, r.text
        rated = time.monotonic()
        while True:
            after = Counter(m for m, _ in ask_auto(client, 40))
            if after["t-liked"] >= 34:
                break
            assert time.monotonic() - rated < 20 * REFRESH_S + 10, f"traffic did not move: {after}"
        # The disliked model keeps about its floor (5%), so new evidence could still reach it.
        final = Counter(m for m, _ in ask_auto(client, 200))
    assert final["t-liked"] / 200 > 0.85 and final["t-disliked"] > 0, final
