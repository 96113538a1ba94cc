"""The `auto` model's choice: Thompson sampling over the rating posterior, with exploration floors.

The bootstrap rounds stand in for the posterior: drawing a random round and taking its best
model picks each model with the probability that it is the best. On top of that every candidate
keeps a floor share, so a model that looks worse still gets the votes that could prove otherwise.

A candidate without data (a column of NaN) has no posterior to draw from; it is treated as
maximally uncertain: in each draw its rating comes from a broad prior centred on that round's
mean rating (sd `prior_sd`, default 400 Elo points, i.e. 10:1 odds either way), so it wins a
fair share of draws until votes arrive, and it keeps its floor as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from multimodel.preference.bradley_terry import LEVEL
from multimodel.preference.pairs import FloatArray, IntArray


def posterior_for(candidates: Sequence[str], models: Sequence[str], samples: FloatArray) -> FloatArray:
    """Bootstrap samples (rounds x models) rearranged to the candidates' order; NaN for a candidate
    that is not among `models` (no battles yet)."""
    samples = np.asarray(samples, dtype=np.float64)
    column = {m: k for k, m in enumerate(models)}
    out = np.full((samples.shape[0], len(candidates)), np.nan)
    for k, name in enumerate(candidates):
        if name in column:
            out[:, k] = samples[:, column[name]]
    return out


class ThompsonPicker:
    def __init__(
        self,
        models: Sequence[str],
        samples: FloatArray,
        floor: float | Mapping[str, float] = 0.05,
        rng: np.random.Generator | int | None = None,
        *,
        prior_sd: float = 400.0,
    ) -> None:
        """`samples` is rounds x len(models), columns in the order of `models` (see posterior_for).
        `floor` is each candidate's minimum share of picks: one value for all, or per model
        (models left out get 0). The floors must sum to at most 1."""
        self.models = tuple(models)
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError("candidates must be a non-empty list of distinct models")
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != len(self.models):
            raise ValueError(f"samples must be rounds x {len(self.models)} (one column per candidate)")
        self._samples = samples
        self._unknown = np.isnan(samples).any(axis=0) if len(samples) else np.ones(len(self.models), bool)
        self.floors = self._floors(floor)
        self._explore = float(self.floors.sum())
        self._cumulative = np.cumsum(self.floors)
        self._prior_sd = prior_sd
        self._rng = np.random.default_rng(rng)

    def _floors(self, floor: float | Mapping[str, float]) -> FloatArray:
        if isinstance(floor, Mapping):
            unknown = set(floor) - set(self.models)
            if unknown:
                raise ValueError(
                    f"floor given for models that are not candidates: {', '.join(sorted(unknown))}"
                )
            floors = np.array([float(floor.get(m, 0.0)) for m in self.models])
        else:
            floors = np.full(len(self.models), float(floor))
        if np.any(floors < 0) or floors.sum() > 1 + 1e-12:
            raise ValueError(f"floors must be >= 0 and sum to at most 1 (they sum to {floors.sum():.3g})")
        return floors

    def pick(self) -> str:
        u = self._rng.random()
        if u < self._explore:
            # Within the exploration mass, each candidate's slice is its floor.
            k = int(np.searchsorted(self._cumulative, u, side="right"))
            return self.models[min(k, len(self.models) - 1)]
        return self.models[int(self._best(1)[0])]

    def shares(self, n: int = 10000) -> dict[str, float]:
        """Each candidate's expected share of picks: its floor plus the rest times its Monte-Carlo
        (n draws) probability of being the best. Sums to 1."""
        wins = np.bincount(self._best(n), minlength=len(self.models)) / n
        share = self.floors + (1 - self._explore) * wins
        return {m: float(s) for m, s in zip(self.models, share, strict=True)}

    def _best(self, size: int) -> IntArray:
        """The argmax of `size` Thompson draws."""
        rounds = len(self._samples)
        if rounds:
            draws = self._samples[self._rng.integers(rounds, size=size)]
        else:
            draws = np.full((size, len(self.models)), np.nan)
        if self._unknown.any():
            known = ~self._unknown
            centre = draws[:, known].mean(axis=1, keepdims=True) if known.any() else np.full((size, 1), LEVEL)
            draws[:, self._unknown] = self._rng.normal(
                centre, self._prior_sd, (size, int(self._unknown.sum()))
            )
        return np.argmax(draws, axis=1)
