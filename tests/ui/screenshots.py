"""Make the README's screenshots (docs/ui-arena.png, docs/ui-leaderboard.png) from a real gateway:

    .venv/bin/python -m tests.ui.screenshots

The arena shows a real battle between the two shipped in-house models (house-mini and house-tiny,
trained on Tiny Shakespeare), so the answers are what those models really write. The leaderboard
adds two models on the local fake upstream, named `fake-*`, whose answers say they are fake, and
votes simulated from known Bradley–Terry strengths (imported as a battles file, as
`multimodel feedback import` does): the table, intervals and `auto` shares are what the gateway
computes from those votes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from tests.fakes.upstream import FakeUpstream, Reply
from tests.support.gateway import GatewayProcess
from tests.ui.conftest import chromium_path
from tests.ui.seed import chat

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HOUSE = ("house-mini", "house-tiny")
# The simulated voters' tastes: votes follow these Bradley–Terry strengths.
STRENGTH = {"fake-large": 3.0, "fake-small": 1.4, "house-mini": 0.8, "house-tiny": 0.5}
FAKE_ANSWER = "[fake upstream] This answer comes from the test server, not from a model."
PROMPT = "ROMEO:\nWhat light through yonder window breaks?"


def simulated_votes(path: Path, n: int, rng: random.Random) -> None:
    """`n` battles in the Chatbot Arena battles format, won by strength (p(a) = sa / (sa + sb))."""
    names = list(STRENGTH)
    with path.open("w") as f:
        for _ in range(n):
            a, b = rng.sample(names, 2)
            roll = rng.random()
            p_a = STRENGTH[a] / (STRENGTH[a] + STRENGTH[b])
            winner = "tie" if roll < 0.12 else "model_a" if rng.random() < p_a else "model_b"
            f.write(json.dumps({"model_a": a, "model_b": b, "winner": winner}) + "\n")


def wait_for_shares(api: httpx.Client, timeout: float = 30.0) -> None:
    """Until the `auto` route has learnt from the votes (its refresher runs in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shares = api.get("/v1/leaderboard").json()["auto"]["shares"].values()
        if max(shares) - min(shares) > 0.1:
            return
        time.sleep(0.2)
    raise RuntimeError("the auto route's shares did not move")


def main() -> None:
    with FakeUpstream() as up, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        models = [
            {"name": n, "provider": "openai-compatible", "model": n, "api_base": up.openai_base}
            for n in STRENGTH
            if n not in HOUSE
        ] + [{"name": n, "provider": "inhouse", "model": str(ROOT / "models" / n)} for n in HOUSE]
        config = {
            "database": f"sqlite:///{workdir / 'usage.db'}",
            "models": models,
            "preference": {
                "arena_pool": list(HOUSE),  # the battle on the picture: real answers only
                "bootstrap_rounds": 300,
                "auto": {"name": "auto", "candidates": list(STRENGTH), "refresh_seconds": 0.5},
            },
        }
        (workdir / "multimodel.yaml").write_text(json.dumps(config))
        votes = workdir / "votes.jsonl"
        simulated_votes(votes, 600, random.Random(1))
        subprocess.run(
            [sys.executable, "-m", "multimodel.cli", "feedback", "import", str(votes),
             "--config", str(workdir / "multimodel.yaml")],
            check=True, cwd=workdir,
        )  # fmt: skip
        with (
            GatewayProcess(workdir, config) as gw,
            httpx.Client(base_url=gw.url, timeout=120) as api,
        ):
            for k, model in enumerate([*STRENGTH] * 3):  # thumbs for the satisfaction column
                if model not in HOUSE:
                    up.push(Reply(FAKE_ANSWER))
                r = chat(api, model)
                rating = "up" if STRENGTH[model] > 1 or k % 3 == 0 else "down"
                api.post("/v1/feedback", json={"request_id": r.headers["x-request-id"], "rating": rating})
            wait_for_shares(api)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium_path(),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1000, "height": 700}, base_url=gw.url)
                page.goto("/ui/arena")
                page.get_by_label("Your prompt").fill(PROMPT)
                page.get_by_role("button", name="Send").click()
                page.get_by_role("button", name="A is better").click(timeout=120_000)
                expect(page.locator("#reveal")).to_contain_text("Model A was")
                page.screenshot(path=str(DOCS / "ui-arena.png"), full_page=True)
                page.goto("/ui/leaderboard")
                expect(page.locator("#plot-shares")).to_be_visible()
                page.screenshot(path=str(DOCS / "ui-leaderboard.png"), full_page=True)
                browser.close()
    for name in ("ui-arena.png", "ui-leaderboard.png"):
        print(f"docs/{name}: {(DOCS / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
