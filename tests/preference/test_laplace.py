"""The `auto` route's posterior: Laplace draws around the Bradley–Terry fit, with thumbs and scores
as games against a satisfactory answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from multimodel.preference.bootstrap import bootstrap
from multimodel.preference.bradley_terry import BradleyTerry
from multimodel.preference.laplace import laplace_draws
from multimodel.preference.live import compute_standings, pairs_of
from multimodel.preference.pairs import Pairs, aggregate_codes
from multimodel.preference.store import feedback_counts
from multimodel.store import make_engine, upgrade
from multimodel.store.tables import feedback, usage
from tests.preference.synthetic import battle_codes, model_names


def synthetic(n_models: int, n_battles: int, seed: int) -> Pairs:
    true = np.linspace(900.0, 1100.0, n_models)
    return aggregate_codes(model_names(n_models), *battle_codes(true, n_battles, seed))


def test_draws_centre_on_the_fit_and_match_the_bootstrap_on_plenty_of_votes() -> None:
    pairs = synthetic(6, 20_000, seed=4)
    draws = laplace_draws(pairs, 4000, seed=1)
    fit = BradleyTerry().fit(pairs)
    assert np.abs(draws.mean(axis=0) - fit).max() < 3
    boot = bootstrap(pairs, 1000, seed=1)
    ratio = draws.std(axis=0) / boot.std(axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio


def test_one_thumbs_up_does_not_take_all_the_traffic() -> None:
    standings = compute_standings([], ["a", "b", "c"], rounds=4000, feedback=[("a", "model_a", 1)])
    best = np.bincount(np.argmax(standings.samples, axis=1), minlength=3) / 4000
    # It makes `a` likelier to be best, but far from certain: a bootstrap would say 100%.
    assert 0.34 < best[0] < 0.7, best
    assert best[1] > 0.15 and best[2] > 0.15, best


def test_feedback_alone_orders_the_candidates() -> None:
    fb = [("good", "model_a", 40), ("good", "model_b", 10), ("bad", "model_a", 10), ("bad", "model_b", 40)]
    standings = compute_standings([], ["good", "bad"], rounds=2000, feedback=fb)
    assert (standings.samples[:, 0] > standings.samples[:, 1]).mean() > 0.99
    assert standings.ratings == {}  # the public leaderboard is arena votes only


def test_arena_votes_and_thumbs_share_one_scale() -> None:
    fb = [("x", "model_a", 20), ("x", "model_b", 10), ("y", "model_a", 10), ("y", "model_b", 20)]
    alone = compute_standings([], ["x", "y"], rounds=4000, feedback=fb).samples
    # The arena says x and y are even, over many battles: it pulls the two together.
    arena = [("x", "y", "model_a", 200), ("x", "y", "model_b", 200)]
    both = compute_standings(arena, ["x", "y"], rounds=4000, feedback=fb)
    gap_alone = (alone[:, 0] - alone[:, 1]).mean()
    gap_both = (both.samples[:, 0] - both.samples[:, 1]).mean()
    assert gap_alone > 150 and 0 < gap_both < gap_alone / 3, (gap_alone, gap_both)
    pairs = pairs_of(arena)
    assert both.ratings == dict(zip(pairs.models, BradleyTerry().fit(pairs).tolist(), strict=True))


def test_feedback_counts_group_thumbs_and_scores_per_model(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fb.db'}")
    upgrade(engine)
    base = {"created_at": 1.0, "api_format": "openai", "endpoint": "chat", "stream": False, "status": 200}
    base |= {"latency_ms": 1.0, "input_tokens": 1, "output_tokens": 1}
    answers = {"r1": "m1", "r2": "m1", "r3": "m2", "r4": "m2", "r5": "m2"}
    ratings = [("r1", "up", None), ("r2", "down", None), ("r3", None, 5), ("r4", "down", 3), ("r5", None, 1)]
    with engine.begin() as c:
        c.execute(
            sa.insert(usage), [{**base, "request_id": r, "public_model": m} for r, m in answers.items()]
        )
        c.execute(
            sa.insert(feedback),
            [
                {"request_id": r, "user": "", "rating": up, "score": s, "created_at": 1.0, "updated_at": 1.0}
                for r, up, s in ratings
            ],
        )
    assert feedback_counts(engine) == [
        ("m1", "model_a", 1),
        ("m1", "model_b", 1),
        ("m2", "model_a", 1),
        ("m2", "model_b", 1),
        ("m2", "tie", 1),
    ]
    engine.dispose()


@pytest.mark.parametrize("rounds", [1, 50])
def test_draw_shape(rounds: int) -> None:
    pairs = synthetic(4, 500, seed=2)
    assert laplace_draws(pairs, rounds).shape == (rounds, 4)
