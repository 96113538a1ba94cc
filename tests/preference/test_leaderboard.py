from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from multimodel.preference.battles import Battle
from multimodel.preference.leaderboard import Row, by_category, format_table, leaderboard, to_csv, to_json
from tests.preference.synthetic import TRUE, battles


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return leaderboard(battles(TRUE, 40_000, seed=3), rounds=300)


def test_rows_are_sorted_by_rating_with_consistent_counts(rows: list[Row]) -> None:
    assert [r.model for r in rows] == [f"model-{k}" for k in reversed(range(len(TRUE)))]
    assert [r.rating for r in rows] == sorted((r.rating for r in rows), reverse=True)
    assert sum(r.votes for r in rows) == 2 * 40_000
    for r in rows:
        assert r.votes == r.wins + r.ties + r.losses
        assert r.ci_low < r.rating < r.ci_high
    assert np.mean([r.rating for r in rows]) == pytest.approx(1000)
    # 43 points apart with CIs of about +-7: every model is separated from its neighbours.
    assert [r.rank for r in rows] == list(range(1, len(TRUE) + 1))


def test_anchor_is_applied_to_ratings_and_intervals() -> None:
    rows = leaderboard(battles(TRUE, 20_000, seed=4), anchor=("model-0", 800.0), rounds=100)
    pinned = next(r for r in rows if r.model == "model-0")
    assert pinned.rating == pinned.ci_low == pinned.ci_high == 800.0


def test_a_category_is_rated_on_its_own_battles() -> None:
    # Overall 'a' leads, but in 'code' 'b' beats it.
    rows = [Battle("a", "b", "model_a", "chat")] * 30 + [Battle("a", "b", "model_b", "chat")] * 10
    rows += [Battle("a", "b", "model_a", "code")] * 10 + [Battle("a", "b", "model_b", "code")] * 20
    rows += [Battle("a", "c", "model_a")] * 10 + [Battle("a", "c", "model_b"), Battle("b", "c", "tie")] * 5
    assert leaderboard(rows, rounds=50)[0].model == "a"
    code = leaderboard(rows, rounds=50, category="code")
    assert [(r.model, r.votes) for r in code] == [("b", 30), ("a", 30)]
    boards = by_category(rows, rounds=50)
    assert list(boards) == ["chat", "code"]
    assert boards["code"] == code
    assert leaderboard(rows, category="nothing") == []


def test_outputs(rows: list[Row]) -> None:
    table = format_table(rows).splitlines()
    assert table[0].split() == ["Rank", "Model", "Rating", "CI", "Votes", "Wins", "Ties", "Losses"]
    top = rows[0]
    assert table[1].split()[:3] == ["1", top.model, f"{top.rating:.1f}"]
    assert [Row(**r) for r in json.loads(to_json(rows))] == rows
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert parsed[0]["model"] == top.model
    assert float(parsed[0]["rating"]) == top.rating
