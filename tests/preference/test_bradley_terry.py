from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from multimodel.preference.battles import Battle
from multimodel.preference.bootstrap import bootstrap, intervals
from multimodel.preference.bradley_terry import BradleyTerry, RatingUndefinedError, fit, is_identifiable
from multimodel.preference.pairs import aggregate, aggregate_codes
from tests.preference.synthetic import TRUE, battles, model_names

SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


@pytest.fixture(scope="module")
def arena() -> list[Battle]:
    return battles(TRUE, 200_000, seed=7)


def reference_fit(rows: list[Battle]) -> dict[str, float]:
    """An independent fit: a generic optimiser on the per-battle log-likelihood of the raw rows
    (no aggregation), P(a beats b) = 1 / (1 + 10^((R_b - R_a) / 400)), a tie scoring 1/2."""
    models = sorted({b.model_a for b in rows} | {b.model_b for b in rows})
    index = {m: k for k, m in enumerate(models)}
    a = np.array([index[b.model_a] for b in rows])
    b = np.array([index[b.model_b] for b in rows])
    y = np.array([SCORE[b.winner] for b in rows])
    scale = math.log(10) / 400

    def negative_loglik(free: np.ndarray) -> tuple[float, np.ndarray]:
        ratings = np.concatenate([[0.0], free])  # the first model fixed at 0: only differences count
        d = scale * (ratings[a] - ratings[b])
        loglik = y * -np.logaddexp(0, -d) + (1 - y) * -np.logaddexp(0, d)
        residual = y - 1 / (1 + np.exp(-d))  # d loglik / d d
        grad = scale * (np.bincount(a, residual, len(models)) - np.bincount(b, residual, len(models)))
        # Averaged over battles, so that gtol is a tolerance on an O(1) gradient.
        return -loglik.mean(), -grad[1:] / len(y)

    result = minimize(
        negative_loglik,
        np.zeros(len(models) - 1),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-16, "maxiter": 10_000},
    )
    _, grad = negative_loglik(result.x)
    assert np.abs(grad).max() < 1e-9, result.message
    ratings = np.concatenate([[0.0], result.x])
    ratings += 1000 - ratings.mean()
    return dict(zip(models, ratings, strict=True))


def test_matches_an_independent_reference_fit_within_a_tenth_of_a_point(arena: list[Battle]) -> None:
    pairs = aggregate(arena)
    ours = dict(zip(pairs.models, fit(pairs), strict=True))
    reference = reference_fit(arena)
    votes = dict(zip(pairs.models, pairs.votes(), strict=True))
    checked = [m for m in pairs.models if votes[m] >= 1000]
    assert len(checked) == len(TRUE)
    for m in checked:
        assert abs(ours[m] - reference[m]) < 0.1, (m, ours[m], reference[m])


def test_recovers_the_true_ratings_within_their_confidence_intervals(arena: list[Battle]) -> None:
    pairs = aggregate(arena)
    assert list(pairs.models) == model_names(len(TRUE))
    ratings = fit(pairs)
    lo, hi = intervals(bootstrap(pairs, rounds=1000, seed=1))
    truth = TRUE - TRUE.mean() + 1000
    covered = (lo <= truth) & (truth <= hi)
    assert covered.sum() >= len(TRUE) - 1, (ratings, lo, hi)
    assert np.all(lo < ratings) and np.all(ratings < hi)
    assert np.abs(ratings - truth).max() < 10  # CIs here are about +-3 points


def test_default_level_is_a_mean_of_1000_and_an_anchor_pins_one_model_exactly(arena: list[Battle]) -> None:
    pairs = aggregate(arena)
    free = fit(pairs)
    assert free.mean() == pytest.approx(1000, abs=1e-9)
    pinned = fit(pairs, anchor=("model-3", 1200.0))
    assert pinned[3] == 1200.0
    np.testing.assert_allclose(pinned - pinned[3], free - free[3], atol=1e-9)  # only the level moves
    samples = bootstrap(pairs, rounds=50, seed=0, anchor=("model-3", 1200.0))
    assert np.all(samples[:, 3] == 1200.0)
    with pytest.raises(ValueError, match="anchor model 'nobody' has no battles"):
        fit(pairs, anchor=("nobody", 1000.0))


def test_ties_and_both_bad_count_as_half_a_win_each_way() -> None:
    # A: 3 wins, 1 loss, 2 ties -> credit 4 vs 2, so P(A beats B) = 2/3 and the gap is 400 log10 2.
    decisive = [Battle("A", "B", "model_a")] * 2 + [Battle("B", "A", "model_b"), Battle("A", "B", "model_b")]
    for tie in ("tie", "tie (bothbad)"):
        rows = [*decisive, Battle("A", "B", tie), Battle("B", "A", tie)]
        ratings = fit(aggregate(rows))
        assert ratings[0] - ratings[1] == pytest.approx(400 * math.log10(2), abs=1e-9)
        assert ratings.mean() == pytest.approx(1000)


def test_a_model_that_never_lost_has_no_rating() -> None:
    rows = [Battle("champ", "b", "model_a"), Battle("c", "champ", "model_b")] * 5
    rows += [Battle("b", "c", "model_a"), Battle("b", "c", "model_b")]
    with pytest.raises(RatingUndefinedError, match="model champ never lost"):
        fit(aggregate(rows))


def test_a_model_that_never_won_has_no_rating() -> None:
    rows = [Battle("a", "b", "model_a"), Battle("a", "b", "model_b"), Battle("a", "loser", "model_a")]
    rows += [Battle("loser", "b", "model_b")]
    with pytest.raises(RatingUndefinedError, match="model loser never won"):
        fit(aggregate(rows))


def test_a_tie_is_enough_to_keep_the_rating_finite() -> None:
    rows = [Battle("a", "b", "model_a"), Battle("a", "b", "tie")]
    assert np.all(np.isfinite(fit(aggregate(rows))))


def test_groups_that_never_met_are_reported() -> None:
    rows = [Battle("a", "b", "model_a"), Battle("a", "b", "model_b")]
    rows += [Battle("c", "d", "model_a"), Battle("c", "d", "model_b")]
    with pytest.raises(RatingUndefinedError, match="no battles connect a, b with the other models"):
        fit(aggregate(rows))


def test_a_model_without_battles_is_reported() -> None:
    pairs = aggregate_codes(["a", "b", "idle"], np.array([0, 1]), np.array([1, 0]), np.array([0, 0]))
    with pytest.raises(RatingUndefinedError, match="model idle has no battles"):
        fit(pairs)


@pytest.mark.parametrize("repeats", [40, 10])
def test_the_batched_refit_solves_each_resample_exactly(repeats: int) -> None:
    # The bootstrap's fast path (a shared Hessian; full Newton for rounds it contracts slowly on,
    # which the sparse case exercises) against full Newton from scratch on each resample.
    true = np.array([900.0, 950.0, 1000.0, 1100.0, 1300.0])
    a = np.array([0, 1, 2, 3, 0, 4, 1, 2, 0, 3] * repeats)
    b = np.array([1, 2, 3, 4, 4, 0, 3, 0, 2, 1] * repeats)
    rng = np.random.default_rng(3)
    p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
    outcome = np.where(rng.random(len(a)) < p, 0, 1)
    outcome[::9] = 2
    pairs = aggregate_codes([f"m{k}" for k in range(5)], a, b, outcome)
    method = BradleyTerry()
    point = method.fit(pairs)
    cells = pairs.cells()
    draws = rng.multinomial(cells.sum(), cells / cells.sum(), size=30)
    draws = draws[[is_identifiable(5, pairs.i, pairs.j, row) for row in draws]]
    assert len(draws) >= 20
    batched = method.fit_batch(pairs, [draws[:7], draws[7:]], point)
    for row, ratings in zip(draws, batched, strict=True):
        np.testing.assert_allclose(ratings, method.fit(pairs.with_cells(row)), atol=1e-6)
