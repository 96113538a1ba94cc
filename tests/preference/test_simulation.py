"""The issue's acceptance test, in process: simulated users with known tastes vote on `auto`
answers and arena battles; the gateway's own standings, pairing and picker code learns from them.
The same `simulate` draws docs/auto-traffic.png (bench/auto_simulation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.auto_simulation import TRUE_ELO, Run, simulate


@pytest.fixture(scope="module", params=[0, 1])
def run(request: pytest.FixtureRequest) -> Run:
    return simulate(3000, rounds=200, seed=request.param)


def test_the_best_model_gets_the_most_traffic(run: Run) -> None:
    shares = run.total_shares()
    assert max(shares, key=lambda m: shares[m]) == "large"
    assert shares["large"] > 0.6
    # And in the end it gets everything but the floors.
    last = run.shares(200)[-1]
    assert last[run.models.index("large")] > 0.7


def test_every_model_keeps_its_floor(run: Run) -> None:
    half = len(run.picks) // 2
    late = np.bincount(run.picks[half:], minlength=len(run.models)) / (len(run.picks) - half)
    assert all(share > run.floor * 0.5 for share in late), late


def test_the_fitted_ranking_is_the_true_one(run: Run) -> None:
    assert run.fitted_ranking() == run.true_ranking() == sorted(TRUE_ELO, key=lambda m: -TRUE_ELO[m])
    fitted = run.standings.ratings
    # Differences are what the data identifies: large - tiny is 300 in truth.
    assert fitted["large"] - fitted["tiny"] == pytest.approx(300, abs=60)
    # The thumbs agree: the satisfaction table ranks the best model's answers above the worst's.
    rate = {row.model: row.rate for row in run.satisfaction()}
    assert rate["large"] > rate["tiny"]  # type: ignore[operator]


def test_regret_grows_sub_linearly(run: Run) -> None:
    # Against the best policy that keeps the floors (the floors' cost is linear by design).
    first, second = run.halves(run.regret_vs_floor)
    assert first > 0 and second < 0.6 * first, (first, second)
    # Against always the best model the floors dominate, but learning still shows.
    first, second = run.halves(run.regret)
    assert second < first


def test_arena_battles_cover_every_pair(run: Run) -> None:
    pairs = {tuple(sorted((b.model_a, b.model_b))) for b in run.battles}
    assert len(pairs) == 6
    assert all(b.model_a != b.model_b for b in run.battles)


def test_thumbs_alone_move_the_auto_route() -> None:
    """No arena at all: users only rate the `auto` answers, and the route still learns."""
    run = simulate(2000, arena_share=0.0, rounds=200, seed=3)
    assert not run.battles
    shares = run.total_shares()
    assert max(shares, key=lambda m: shares[m]) == "large"
    assert run.shares(200)[-1][run.models.index("large")] > 0.6
    first, second = run.halves(run.regret_vs_floor)
    assert second < 0.6 * first, (first, second)
