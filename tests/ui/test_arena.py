"""The arena page in a real browser: a full round (prompt, two streamed answers, vote, reveal),
the vote in the database and on the leaderboard, keyboard shortcuts, and errors in the page."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.fakes.upstream import Fail, FakeUpstream, Reply
from tests.support.databases import rows
from tests.ui.conftest import POOL, screenshot

ANSWERS = ("Alpha thinks the sea is wide and deep today", "Beta says the mountains are tall and cold")

# Records every text the A panel shows, to prove that the answer arrived piece by piece.
WATCH_A = """() => {
  window.seenA = [];
  const el = document.getElementById("answer-a");
  new MutationObserver(() => window.seenA.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
}"""


def newest_battle(database: str) -> dict[str, object]:
    return max(rows(database, "battles"), key=lambda b: float(b["created_at"]))  # type: ignore[arg-type]


def test_a_full_round_streams_votes_and_reveals(
    page: Page, up: FakeUpstream, api: httpx.Client, database: str
) -> None:
    before = api.get("/v1/leaderboard").json()
    page.goto("/")
    expect(page).to_have_url("/ui/arena")
    page.evaluate(WATCH_A)
    up.push(*(Reply(text, chunk_delay=0.1) for text in ANSWERS))
    page.get_by_label("Your prompt").fill("Describe a landscape.")
    page.get_by_role("button", name="Send").click()

    vote_a = page.get_by_role("button", name="A is better")
    expect(vote_a).to_be_enabled()
    shown = {page.locator("#answer-a").text_content(), page.locator("#answer-b").text_content()}
    assert shown == set(ANSWERS)
    seen = page.evaluate("window.seenA")
    assert len(set(seen)) >= 3 and all(seen[-1].startswith(s) for s in seen), seen  # grew chunk by chunk
    expect(page.locator("#title-a")).to_have_text("Model A")  # still anonymous before the vote

    vote_a.click()
    reveal = page.locator("#reveal")
    expect(reveal).to_contain_text("Model A was")
    battle = newest_battle(database)
    [vote] = [v for v in rows(database, "votes") if v["battle_id"] == battle["id"]]
    assert vote["winner"] == "model_a" and str(vote["user"]).startswith("ui-")
    expect(page.locator("#title-a")).to_have_text(f"Model A: {battle['model_a']}")
    expect(page.locator("#title-b")).to_have_text(f"Model B: {battle['model_b']}")
    assert {battle["model_a"], battle["model_b"]} <= set(POOL)
    expect(vote_a).to_be_disabled()  # one vote per battle
    screenshot(page, "arena")

    after = api.get("/v1/leaderboard").json()
    assert after["battles"] == before["battles"] + 1
    page.goto("/ui/leaderboard")
    expect(page.locator("#board-meta")).to_contain_text(f"{after['battles']} votes")
    pair = after["pairwise"]
    r, c = pair["models"].index(battle["model_a"]), pair["models"].index(battle["model_b"])
    cell = page.locator("#plot-pairwise rect.cell title").nth(_cell_index(pair["win_rate"], r, c))
    battles = pair["battles"][r][c]
    expect(cell).to_have_text(
        re.compile(rf"{battle['model_a']} beat {battle['model_b']} in \d+% of {battles} battles")
    )


def _cell_index(rate: list[list[float | None]], row: int, col: int) -> int:
    """The position of cell (row, col) among the drawn (non-empty) cells, in row-major order."""
    flat = [(r, c) for r, values in enumerate(rate) for c, v in enumerate(values) if v is not None]
    return flat.index((row, col))


def test_keyboard_votes_and_starts_a_new_round(page: Page, up: FakeUpstream, database: str) -> None:
    page.goto("/ui/arena")
    prompt = page.get_by_label("Your prompt")
    prompt.fill("Keyboard only, please.")
    prompt.press("Control+Enter")
    expect(page.get_by_role("button", name="B is better")).to_be_enabled()
    expect(page.locator("#answer-b")).to_have_text("Echo: Keyboard only, please.")
    page.keyboard.press("b")
    expect(page.locator("#reveal")).to_contain_text("You voted “B is better”")
    battle = newest_battle(database)
    assert [v["winner"] for v in rows(database, "votes") if v["battle_id"] == battle["id"]] == ["model_b"]

    page.keyboard.press("n")
    expect(prompt).to_be_focused()
    expect(prompt).to_have_value("")
    expect(page.locator("#answer-a")).to_have_text("")
    expect(page.locator("#reveal")).to_have_text("")
    expect(page.get_by_role("button", name="A is better")).to_be_disabled()


def test_an_upstream_failure_is_a_message_not_a_blank_panel(page: Page, up: FakeUpstream) -> None:
    up.push(Fail(500), Fail(500))
    page.goto("/ui/arena")
    page.get_by_label("Your prompt").fill("Anyone there?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#main > .error")).to_contain_text("A vote needs both answers")
    for side in "ab":
        problem = page.locator(f"article:has(#answer-{side}) .error")
        expect(problem).to_contain_text("unavailable")
        assert "upstream-" not in (problem.text_content() or "")  # the error does not name the model
    expect(page.get_by_role("button", name="Tie")).to_be_disabled()
