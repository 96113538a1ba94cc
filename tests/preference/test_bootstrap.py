from __future__ import annotations

import numpy as np
import pytest

from multimodel.preference.battles import Battle
from multimodel.preference.bootstrap import bootstrap, intervals, ranks
from multimodel.preference.bradley_terry import RatingUndefinedError
from multimodel.preference.pairs import Pairs, aggregate, aggregate_codes
from tests.preference.synthetic import TRUE, battle_codes, model_names


def pairs_of(count: int, seed: int = 0) -> Pairs:
    return aggregate_codes(model_names(len(TRUE)), *battle_codes(TRUE, count, seed))


def test_the_same_seed_gives_the_same_samples_and_another_seed_does_not() -> None:
    pairs = pairs_of(20_000)
    first = bootstrap(pairs, rounds=150, seed=5)
    assert first.shape == (150, len(TRUE))
    np.testing.assert_array_equal(first, bootstrap(pairs, rounds=150, seed=5))
    assert not np.array_equal(first, bootstrap(pairs, rounds=150, seed=6))


def test_interval_width_shrinks_like_one_over_root_n() -> None:
    widths = []
    for count in (20_000, 80_000):
        lo, hi = intervals(bootstrap(pairs_of(count, seed=count), rounds=400, seed=0))
        widths.append(np.mean(hi - lo))
    assert widths[1] / widths[0] == pytest.approx(0.5, rel=0.25)


def test_intervals_are_percentiles_per_model() -> None:
    samples = np.column_stack([np.arange(1001.0), -np.arange(1001.0)])
    lo, hi = intervals(samples, level=0.9)
    np.testing.assert_allclose(lo, [50.0, -950.0])
    np.testing.assert_allclose(hi, [950.0, -50.0])


def test_rank_counts_the_models_whose_lower_bound_is_above_the_upper_bound() -> None:
    #            A      B      C      D     E
    lo = np.array([1100, 1090, 1000, 1005, 900])
    hi = np.array([1150, 1120, 1095, 1030, 1001])
    # A: nobody's lo above 1150 -> 1. B: none above 1120 -> 1. C: A's 1100 > 1095 -> 2.
    # D: A, B above 1030 -> 3. E: A, B, D above 1001 (C's 1000 is not) -> 4.
    assert ranks(lo, hi).tolist() == [1, 1, 2, 3, 4]


def test_too_sparse_data_raises_rather_than_conditioning_quietly() -> None:
    # 'b' lost exactly once: about 37% of resamples leave that loss out and b's rating diverges.
    rows = [Battle("a", "b", "model_a")] + [Battle("b", "c", "model_a"), Battle("b", "a", "model_a")] * 20
    rows += [Battle("a", "c", "model_a"), Battle("c", "a", "model_a")] * 20
    with pytest.raises(RatingUndefinedError, match="bootstrap resamples had diverging ratings"):
        bootstrap(aggregate(rows), rounds=200, seed=0)


def test_a_rare_diverging_resample_is_redrawn() -> None:
    # 'b' lost three times: about 5% of resamples drop all three and are drawn again.
    rows = [Battle("a", "b", "model_a")] * 3 + [Battle("b", "c", "model_a"), Battle("b", "a", "model_a")] * 20
    rows += [Battle("a", "c", "model_a"), Battle("c", "a", "model_a")] * 20
    samples = bootstrap(aggregate(rows), rounds=200, seed=0)
    assert np.all(np.isfinite(samples))
    assert samples[:, 1].max() - samples[:, 1].min() < 2000
