from __future__ import annotations

import numpy as np
import pytest

from multimodel.preference.battles import WINNERS, Battle
from multimodel.preference.pairs import aggregate, aggregate_codes
from tests.preference.synthetic import TRUE, battle_codes, model_names


def test_matrix_counts_wins_and_half_ties() -> None:
    rows = [
        Battle("x", "y", "model_a"),
        Battle("y", "x", "model_a"),
        Battle("y", "x", "model_a"),
        Battle("x", "z", "tie"),
        Battle("z", "x", "tie (bothbad)"),
        Battle("z", "y", "model_b"),
    ]
    pairs = aggregate(rows)
    assert pairs.models == ("x", "y", "z")
    np.testing.assert_array_equal(pairs.matrix(), [[0, 1, 1], [2, 0, 1], [1, 0, 0]])
    assert pairs.battles.tolist() == [3, 2, 1]  # (x, y), (x, z), (y, z)
    wins, ties, losses = pairs.record()
    assert (wins.tolist(), ties.tolist(), losses.tolist()) == ([1, 3, 0], [2, 0, 2], [2, 1, 1])
    assert pairs.votes().tolist() == [5, 4, 3]


def test_vectorised_aggregation_matches_a_plain_count() -> None:
    a, b, outcome = battle_codes(TRUE, 5000, seed=2)
    pairs = aggregate_codes(model_names(len(TRUE)), a, b, outcome)
    expected = np.zeros((len(TRUE), len(TRUE)))
    for x, y, o in zip(a, b, outcome, strict=True):
        if o == 0:
            expected[x, y] += 1
        elif o == 1:
            expected[y, x] += 1
        else:
            expected[x, y] += 0.5
            expected[y, x] += 0.5
    np.testing.assert_array_equal(pairs.matrix(), expected)
    assert pairs.battles.sum() == 5000
    names = model_names(len(TRUE))
    rows = [Battle(names[x], names[y], WINNERS[o]) for x, y, o in zip(a, b, outcome, strict=True)]
    np.testing.assert_array_equal(aggregate(rows).cells(), pairs.cells())


def test_bad_codes_are_rejected() -> None:
    with pytest.raises(ValueError, match="same model on both sides"):
        aggregate_codes(["a", "b"], np.array([0]), np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="outcome codes"):
        aggregate_codes(["a", "b"], np.array([0]), np.array([1]), np.array([4]))
