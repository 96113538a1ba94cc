"""Make the README's screenshots (docs/ui-arena.png, docs/ui-leaderboard.png) from a real gateway
with example models answering through the local fake upstream, and example votes:

    .venv/bin/python -m tests.ui.screenshots
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream, Reply
from tests.support.gateway import GatewayProcess
from tests.ui.conftest import chromium_path
from tests.ui.seed import chat, play

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Example names and tastes: the votes follow these Bradley–Terry strengths.
STRENGTH = {"gpt-4o": 3.0, "claude-sonnet": 3.4, "llama-3.1-8b": 1.3, "house-mini": 0.6}
ANSWERS = (
    "Rain taps the window,\nthe kettle hums its one note —\nthe house breathes slowly.",
    "Grey clouds fold over\nthe roofs; a cat stretches once\nand claims the warm sill.",
)


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
        ]
        config = {
            "database": f"sqlite:///{workdir / 'usage.db'}",
            "models": models,
            "preference": {
                "bootstrap_rounds": 300,
                "auto": {"name": "auto", "candidates": list(STRENGTH), "refresh_seconds": 0.5},
            },
        }
        with (
            GatewayProcess(workdir, config, env=KEY_ENV) as gw,
            httpx.Client(base_url=gw.url, timeout=30) as api,
        ):
            play(api, f"sqlite:///{workdir / 'usage.db'}", STRENGTH, 150, random.Random(1))
            for k, model in enumerate([*STRENGTH] * 3):
                r = chat(api, model)
                rating = "up" if k % len(STRENGTH) < 2 or k % 3 else "down"
                api.post("/v1/feedback", json={"request_id": r.headers["x-request-id"], "rating": rating})
            wait_for_shares(api)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium_path(),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1000, "height": 700}, base_url=gw.url)
                page.goto("/ui/arena")
                up.push(*(Reply(text) for text in ANSWERS))
                page.get_by_label("Your prompt").fill("Write a haiku about a rainy afternoon at home.")
                page.get_by_role("button", name="Send").click()
                page.get_by_role("button", name="A is better").click()
                expect(page.locator("#reveal")).to_contain_text("Model A was")
                page.screenshot(path=str(DOCS / "ui-arena.png"))
                page.goto("/ui/leaderboard")
                expect(page.locator("#plot-shares")).to_be_visible()
                page.screenshot(path=str(DOCS / "ui-leaderboard.png"), full_page=True)
                browser.close()
    for name in ("ui-arena.png", "ui-leaderboard.png"):
        print(f"docs/{name}: {(DOCS / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
