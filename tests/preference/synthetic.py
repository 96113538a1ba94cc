"""Synthetic battles drawn from known Elo ratings, for the preference tests."""

from __future__ import annotations

import numpy as np

from multimodel.preference.battles import WINNERS, Battle


def battle_codes(
    true: np.ndarray, battles: int, seed: int, tie_rate: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, outcome) for `battles` uniformly random pairs; outcome codes index WINNERS.

    Ties (half plain ties, half both-bad) occur at `tie_rate`; the decisive outcomes are drawn so
    that A's expected score, a tie counting half, is exactly the Bradley–Terry probability:
    that is the model the fit assumes, so the true ratings are what it should recover.
    """
    rng = np.random.default_rng(seed)
    n = len(true)
    a = rng.integers(0, n, battles)
    b = rng.integers(0, n - 1, battles)
    b += b >= a
    p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
    q = (p - tie_rate / 2) / (1 - tie_rate)
    assert q.min() >= 0 and q.max() <= 1, "tie_rate too high for this rating spread"
    tie = rng.random(battles) < tie_rate
    outcome = np.where(
        tie, np.where(rng.random(battles) < 0.5, 2, 3), np.where(rng.random(battles) < q, 0, 1)
    )
    return a, b, outcome


def battles(true: np.ndarray, count: int, seed: int, tie_rate: float = 0.2) -> list[Battle]:
    a, b, outcome = battle_codes(true, count, seed, tie_rate)
    names = model_names(len(true))
    return [
        Battle(names[x], names[y], WINNERS[o])
        for x, y, o in zip(a.tolist(), b.tolist(), outcome.tolist(), strict=True)
    ]


def model_names(n: int) -> list[str]:
    return [f"model-{k}" for k in range(n)]


# 8 models spread over 300 points, centred on 1000.
TRUE = np.linspace(850.0, 1150.0, 8)
