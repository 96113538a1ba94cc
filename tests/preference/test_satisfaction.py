from __future__ import annotations

import pytest

from multimodel.preference.satisfaction import Feedback, format_satisfaction, satisfaction, wilson


def test_wilson_matches_a_hand_computation() -> None:
    # 8 of 10, z = 1.96: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10) = 0.99208 / 1.38416 = 0.716738;
    # half-width 1.96 / 1.38416 * sqrt(0.8 * 0.2 / 10 + 1.96^2 / 400) = 1.416022 * 0.160012 = 0.226581.
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.716738 - 0.226581, abs=2e-6)
    assert hi == pytest.approx(0.716738 + 0.226581, abs=2e-6)
    assert wilson(0, 5)[0] == 0.0
    assert wilson(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        wilson(3, 0)


def test_rates_and_scores_per_model() -> None:
    records: list[tuple[str, str, int | bool]] = [Feedback("a", "thumbs", 1)] * 8
    records += [Feedback("a", "thumbs", 0)] * 2
    records += [("a", "score", 5), ("a", "score", 4), ("b", "thumbs", True), ("c", "score", 2)]
    rows = {r.model: r for r in satisfaction(records)}
    a = rows["a"]
    assert (a.thumbs_up, a.thumbs, a.rate) == (8, 10, 0.8)
    assert (a.rate_low, a.rate_high) == pytest.approx(wilson(8, 10))
    assert (a.mean_score, a.scores) == (4.5, 2)
    assert rows["b"].mean_score is None and rows["b"].rate == 1.0
    assert rows["c"].rate is None and rows["c"].mean_score == 2.0
    # Sorted by the lower bound: a's 0.49 beats b's single thumbs-up (0.21); c has no thumbs.
    assert [r.model for r in satisfaction(records)] == ["a", "b", "c"]
    assert "a" in format_satisfaction(satisfaction(records))


def test_bad_records_are_rejected() -> None:
    with pytest.raises(ValueError, match="score"):
        satisfaction([("a", "score", 6)])
    with pytest.raises(ValueError, match="thumbs"):
        satisfaction([("a", "thumbs", 2)])
    with pytest.raises(ValueError, match="kind"):
        satisfaction([("a", "stars", 3)])
