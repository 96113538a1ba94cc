"""Battles aggregated to per-pair outcome counts: the only input the rating methods need.

Every fit and every bootstrap round works on these counts, so their cost depends on the number
of model pairs (130 models: 8,385 pairs), not on the number of battles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from multimodel.preference.battles import WINNERS, Battle

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Outcome codes follow WINNERS: 0 model_a won, 1 model_b won, 2 tie, 3 tie (bothbad).
OUTCOME_CODES = {w: code for code, w in enumerate(WINNERS)}


@dataclass(frozen=True, eq=False)
class Pairs:
    """Outcome counts for each pair (i[k], j[k]) of models that met, with i[k] < j[k].

    `ties` holds ties and both-bad together: both count as half a win each way, so the
    ratings (and a bootstrap of them) cannot tell them apart.
    """

    models: tuple[str, ...]
    i: IntArray
    j: IntArray
    wins: IntArray  # i beat j
    losses: IntArray  # j beat i
    ties: IntArray

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def battles(self) -> IntArray:
        """Battles per pair."""
        return self.wins + self.losses + self.ties

    def cells(self) -> IntArray:
        """All outcome counts as one vector [wins, losses, ties]: the cells a bootstrap resamples."""
        return np.concatenate([self.wins, self.losses, self.ties])

    def with_cells(self, cells: IntArray) -> Pairs:
        k = len(self.i)
        return Pairs(self.models, self.i, self.j, cells[:k], cells[k : 2 * k], cells[2 * k :])

    def matrix(self) -> FloatArray:
        """W[a, b] = wins of a over b, ties counting half a win each way."""
        w = np.zeros((self.n_models, self.n_models))
        w[self.i, self.j] = self.wins + 0.5 * self.ties
        w[self.j, self.i] = self.losses + 0.5 * self.ties
        return w

    def record(self) -> tuple[IntArray, IntArray, IntArray]:
        """Per-model (wins, ties, losses) counts, ties including both-bad."""
        wins = self._per_model(self.wins, self.losses)
        ties = self._per_model(self.ties, self.ties)
        return wins, ties, self._per_model(self.losses, self.wins)

    def _per_model(self, as_i: IntArray, as_j: IntArray) -> IntArray:
        """Sum of `as_i` over the pairs where a model is i, plus `as_j` where it is j."""
        n = self.n_models
        total = np.bincount(self.i, as_i, n) + np.bincount(self.j, as_j, n)
        return total.astype(np.int64)  # exact: bincount sums integer weights in float64

    def votes(self) -> IntArray:
        """Battles involving each model."""
        wins, ties, losses = self.record()
        return wins + ties + losses


def aggregate(battles: Iterable[Battle]) -> Pairs:
    """Pair counts of a list of battles; models are sorted by name."""
    battles = list(battles)
    models = sorted({x.model_a for x in battles} | {x.model_b for x in battles})
    index = {m: k for k, m in enumerate(models)}
    count = len(battles)
    a = np.fromiter((index[x.model_a] for x in battles), np.int64, count)
    b = np.fromiter((index[x.model_b] for x in battles), np.int64, count)
    outcome = np.fromiter((OUTCOME_CODES[x.winner] for x in battles), np.int64, count)
    return aggregate_codes(models, a, b, outcome)


def aggregate_codes(models: Sequence[str], a: IntArray, b: IntArray, outcome: IntArray) -> Pairs:
    """Vectorised aggregation of integer-coded battles: a[k], b[k] index `models`, outcome[k] is an
    OUTCOME_CODES value. Models that never played are kept (the fit will reject them)."""
    n = len(models)
    a, b, outcome = (np.asarray(x, dtype=np.int64) for x in (a, b, outcome))
    if not len(a) == len(b) == len(outcome):
        raise ValueError("a, b and outcome must have the same length")
    if np.any(a == b):
        raise ValueError("a battle has the same model on both sides")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise ValueError("model index out of range")
    if np.any((outcome < 0) | (outcome > 3)):
        raise ValueError("outcome codes must be 0..3")
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # Cell 0: the lower index won, 1: the higher index won, 2: tie or both-bad.
    a_is_lo = a < b
    cell = np.where(outcome >= 2, 2, np.where((outcome == 0) == a_is_lo, 0, 1))
    keys, counts = np.unique((lo * n + hi) * 3 + cell, return_counts=True)
    pair_keys, pair_of_key = np.unique(keys // 3, return_inverse=True)
    table = np.zeros((len(pair_keys), 3), dtype=np.int64)
    table[pair_of_key, keys % 3] = counts
    i, j = np.divmod(pair_keys, n)
    return Pairs(tuple(models), i, j, table[:, 0], table[:, 1], table[:, 2])
