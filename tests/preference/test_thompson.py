from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from multimodel.preference.thompson import ThompsonPicker, posterior_for

MODELS = ["best", "good", "fair", "weak"]


def posterior(means: list[float], sd: float = 10.0, rounds: int = 1000) -> np.ndarray:
    return np.random.default_rng(0).normal(means, sd, (rounds, len(means)))


def shares_of_picks(picker: ThompsonPicker, n: int) -> dict[str, float]:
    counts = Counter(picker.pick() for _ in range(n))
    return {m: counts[m] / n for m in picker.models}


def test_a_clearly_best_model_gets_most_picks_and_the_others_their_floor() -> None:
    picker = ThompsonPicker(MODELS, posterior([1300, 1000, 990, 900]), floor=0.05, rng=1)
    picks = shares_of_picks(picker, 20_000)
    assert picks["best"] == pytest.approx(0.85, abs=0.01)
    for m in MODELS[1:]:
        assert picks[m] == pytest.approx(0.05, abs=0.01)
    assert picker.shares() == pytest.approx({"best": 0.85, "good": 0.05, "fair": 0.05, "weak": 0.05})


def test_close_models_share_the_thompson_picks() -> None:
    picker = ThompsonPicker(["x", "y"], posterior([1000, 1000]), floor=0.0, rng=2)
    picks = shares_of_picks(picker, 10_000)
    assert picks["x"] == pytest.approx(0.5, abs=0.03)


def test_per_model_floors_are_respected() -> None:
    floor = {"weak": 0.2, "fair": 0.1}
    picker = ThompsonPicker(MODELS, posterior([1300, 1000, 990, 900]), floor=floor, rng=3)
    picks = shares_of_picks(picker, 20_000)
    assert picks["weak"] == pytest.approx(0.2, abs=0.01)
    assert picks["fair"] == pytest.approx(0.1, abs=0.01)
    assert picks["good"] < 0.005
    assert picks["best"] == pytest.approx(0.7, abs=0.015)


def test_a_candidate_without_data_gets_at_least_its_floor() -> None:
    samples = posterior_for(["best", "new"], ["best", "other"], posterior([1100, 1000]))
    assert np.isnan(samples[:, 1]).all()
    picker = ThompsonPicker(["best", "new"], samples, floor=0.1, rng=4)
    shares = picker.shares(20_000)
    # The prior (sd 400 around the mean, here 1100) puts 'new' above 'best' about half the time.
    assert 0.1 < shares["new"] < 0.9
    assert sum(shares.values()) == pytest.approx(1)


def test_invalid_floors_are_rejected() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        ThompsonPicker(MODELS, posterior([1, 2, 3, 4]), floor=0.3)
    with pytest.raises(ValueError, match="not candidates"):
        ThompsonPicker(MODELS, posterior([1, 2, 3, 4]), floor={"ghost": 0.1})
