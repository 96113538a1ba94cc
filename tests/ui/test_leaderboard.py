"""The leaderboard page in a real browser, with votes and feedback behind it: the table, and
plots whose marks match the API's numbers (one point and error bar per rated model, one heatmap
cell per pair that met, one bar per `auto` candidate), and the category filter."""

from __future__ import annotations

import random
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.ui.conftest import POOL, screenshot
from tests.ui.seed import chat, play, play_until_rated

STRENGTH = dict(zip(POOL, (4.0, 2.0, 1.0), strict=True))


def met(board: dict[str, Any]) -> int:
    return sum(v is not None for row in board["pairwise"]["win_rate"] for v in row)


def satisfaction_cell(board: dict[str, Any], model: str) -> str:
    row = next((r for r in board["satisfaction"] if r["model"] == model and r["thumbs"]), None)
    return "—" if row is None else f"{100 * row['rate']:.0f}% ({row['thumbs_up']}/{row['thumbs']})"


def check_plots(page: Page, board: dict[str, Any]) -> None:
    rated = len(board["leaderboard"])
    expect(page.locator("table.leaderboard tbody tr")).to_have_count(
        rated
        + sum(r["model"] not in {x["model"] for x in board["leaderboard"]} for r in board["satisfaction"])
    )
    expect(page.locator("#plot-ratings circle.point")).to_have_count(rated)
    expect(page.locator("#plot-ratings line.ci")).to_have_count(rated)
    expect(page.locator("#plot-pairwise rect.cell:not(.empty)")).to_have_count(met(board))
    n = len(board["pairwise"]["models"])
    expect(page.locator("#plot-pairwise rect.cell")).to_have_count(n * n)
    expect(page.locator("#plot-shares rect.bar")).to_have_count(len(board["auto"]["shares"]))


def test_the_table_and_plots_match_the_api(
    page: Page, up: FakeUpstream, api: httpx.Client, database: str
) -> None:
    rng = random.Random(7)
    play_until_rated(api, database, STRENGTH, rng)
    play(api, database, STRENGTH, 4, rng, category="code")
    r = chat(api, "ui-alpha")
    assert (
        api.post("/v1/feedback", json={"request_id": r.headers["x-request-id"], "rating": "up"}).status_code
        == 200
    )

    with page.expect_response(lambda r: r.url.endswith("/v1/leaderboard")) as got:
        page.goto("/ui/leaderboard")
    board = got.value.json()
    assert len(board["leaderboard"]) == len(POOL) and board["auto"]["name"] == "ui-auto"
    check_plots(page, board)
    for k, top in enumerate(board["leaderboard"]):
        expect(page.locator("table.leaderboard tbody tr").nth(k).locator("td")).to_have_text(
            [
                str(top["rank"]),
                top["model"],
                f"{top['rating']:.1f}",
                f"{top['ci_low']:.1f} – {top['ci_high']:.1f}",
                str(top["votes"]),
                satisfaction_cell(board, top["model"]),
            ]
        )
    assert satisfaction_cell(board, "ui-alpha").endswith("(1/1)")
    screenshot(page, "leaderboard")

    with page.expect_response(lambda r: "/v1/leaderboard?category=code" in r.url) as got:
        page.get_by_label("Category").select_option("code")
    code = got.value.json()
    assert code["category"] == "code" and code["battles"] == 4
    expect(page.locator("#board-meta")).to_contain_text("4 votes in “code”")
    expect(page.locator("#plot-pairwise rect.cell:not(.empty)")).to_have_count(met(code))
    expect(page).to_have_url("/ui/leaderboard?category=code")  # a link to the filtered board


def test_no_votes_is_a_note_not_a_blank_page(page: Page) -> None:
    page.goto("/ui/leaderboard?category=nobody-votes-here")
    expect(page.locator("#board-note")).to_contain_text("no votes yet")
    expect(page.locator("#plot-ratings")).to_have_count(0)
