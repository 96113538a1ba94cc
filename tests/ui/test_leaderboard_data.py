"""The pairwise win-rate matrix the leaderboard's heatmap draws (multimodel.preference.board)."""

from __future__ import annotations

from multimodel.preference.battles import Battle
from multimodel.preference.board import compute_board, win_rates
from multimodel.preference.pairs import aggregate


def test_win_rates_count_ties_as_half_and_leave_unmet_pairs_empty() -> None:
    pairs = aggregate(
        [
            Battle("x", "y", "model_a"),
            Battle("x", "y", "model_a"),
            Battle("y", "x", "tie"),
            Battle("y", "x", "model_a"),  # y beat x
            Battle("z", "y", "tie (bothbad)"),
        ]
    )
    m = win_rates(pairs, order=["z", "x"])
    assert m.models == ["z", "x", "y"]  # the given order first, then the rest by name
    assert m.win_rate == [
        [None, None, 0.5],
        [None, None, 2.5 / 4],
        [0.5, 1.5 / 4, None],
    ]
    assert m.battles == [[0, 0, 1], [0, 0, 4], [1, 4, 0]]


def test_the_board_orders_the_matrix_by_rank_and_keeps_it_without_ratings() -> None:
    battles = [Battle("a", "b", w) for w in ("model_a", "model_a", "model_b", "tie")]
    battles += [Battle("b", "c", w) for w in ("model_a", "model_b", "tie")]
    board = compute_board(aggregate(battles * 10), rounds=50)
    assert board.note is None
    assert board.pairwise.models == [r.model for r in board.rows] and len(board.rows) == 3
    undefined = compute_board(aggregate([Battle("a", "b", "model_a")]), rounds=50)
    assert undefined.rows == [] and undefined.note
    assert undefined.as_json()["pairwise"]["win_rate"] == [[None, 1.0], [0.0, None]]
