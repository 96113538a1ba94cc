"""Which two models meet in the next arena battle.

A vote teaches the most where the outcome is least certain, so each pair of the pool is drawn
with weight

    p (1 - p)  +  0.25 / sqrt(1 + n)

where p is the current Bradley–Terry probability that one beats the other (0.5 while either has
no rating) and n the battles the pair has had. The first term is the Fisher information of one
vote about the rating difference (largest, 0.25, for an even match); the second is a bonus that
starts as large for a pair that never met and fades as it gets votes, so lopsided pairs still
meet now and then, and a new model gets battles before it has a rating. Which model is side A
is a coin flip.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from multimodel.preference.live import Standings

NEW_PAIR_BONUS = 0.25


def win_probability(ra: float, rb: float) -> float:
    return 1 / (1 + 10 ** ((rb - ra) / 400))


def pair_weights(pool: Sequence[str], standings: Standings) -> dict[tuple[str, str], float]:
    weights = {}
    for a, b in itertools.combinations(pool, 2):
        ra, rb = standings.ratings.get(a), standings.ratings.get(b)
        p = 0.5 if ra is None or rb is None else win_probability(ra, rb)
        n = standings.battles_between(a, b)
        weights[(a, b)] = p * (1 - p) + NEW_PAIR_BONUS / math.sqrt(1 + n)
    return weights


def draw_pair(pool: Sequence[str], standings: Standings, rng: np.random.Generator) -> tuple[str, str]:
    """Two different models of `pool` (at least two), in random order: (model_a, model_b)."""
    if len(set(pool)) < 2:
        raise ValueError("the arena needs at least two models")
    weights = pair_weights(list(dict.fromkeys(pool)), standings)
    pairs = list(weights)
    w = np.fromiter(weights.values(), np.float64, len(pairs))
    a, b = pairs[int(rng.choice(len(pairs), p=w / w.sum()))]
    return (a, b) if rng.random() < 0.5 else (b, a)
