"""Confidence intervals and ranks by bootstrap over battles.

Resampling N battles with replacement changes nothing but the outcome counts, so a round is one
multinomial draw of N over the (pair, outcome) cells followed by a refit: the cost of a round
depends on the number of model pairs, not on N.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from multimodel.preference.bradley_terry import (
    BradleyTerry,
    RatingUndefinedError,
    check_identifiable,
    is_identifiable,
    set_level,
    win_edges,
)
from multimodel.preference.pairs import FloatArray, IntArray, Pairs

if TYPE_CHECKING:
    from multimodel.preference import RatingMethod

_CHUNK = 100  # rounds drawn and fitted together: bounds memory at ~100 x cells floats per array
# Resamples with no finite MLE are redrawn (see `bootstrap`); past this share of draws the data
# is too sparse for intervals to mean anything and we say so rather than condition quietly.
_MAX_REDRAW_SHARE = 0.1


def bootstrap(
    pairs: Pairs,
    rounds: int = 1000,
    seed: int = 0,
    *,
    anchor: tuple[str, float] | None = None,
    method: RatingMethod | None = None,
    start: FloatArray | None = None,
) -> FloatArray:
    """Ratings refitted on `rounds` resamples of the battles: an array (rounds x models), levelled
    like the point estimate (`anchor`, else mean 1000). Deterministic for a given seed.

    A resample can lose the only loss of some model, and then its ratings diverge; such a round
    is redrawn. With well-connected data that never happens; if more than 10% of draws need it,
    RatingUndefinedError is raised. `start` (the point estimate, at any level) saves a refit.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    method = method or BradleyTerry()
    check_identifiable(pairs)  # the redraw test below assumes the full data is identifiable
    if start is None:
        start = method.fit(pairs)
    fit_batch = getattr(method, "fit_batch", None)  # an optional fast path; `fit` is the seam
    draws = _resamples(pairs, rounds, np.random.default_rng(seed))
    if fit_batch is not None:
        samples = fit_batch(pairs, draws, start)
    else:
        samples = np.array([method.fit(pairs.with_cells(row)) for chunk in draws for row in chunk])
    return set_level(samples, pairs.models, anchor)


def _resamples(pairs: Pairs, rounds: int, rng: np.random.Generator) -> Iterator[IntArray]:
    """Multinomial resamples of the cells, in chunks of up to _CHUNK rows, each identifiable."""
    cells = pairs.cells()
    total = int(cells.sum())
    present = cells > 0
    probabilities = cells[present] / total
    graph = win_edges(cells)
    redraws, max_redraws = 0, int(_MAX_REDRAW_SHARE * rounds)
    for first in range(0, rounds, _CHUNK):
        chunk = np.zeros((min(_CHUNK, rounds - first), len(cells)), dtype=np.int64)
        for row in chunk:
            while True:
                row[present] = rng.multinomial(total, probabilities)
                # A resample can only lose outcomes, never add any: while it keeps every edge
                # of the win graph, the graph is unchanged, hence still strongly connected.
                if np.array_equal(win_edges(row), graph) or is_identifiable(
                    pairs.n_models, pairs.i, pairs.j, row
                ):
                    break
                redraws += 1
                if redraws > max_redraws:
                    raise RatingUndefinedError(
                        f"rating intervals undefined: {redraws} bootstrap resamples had diverging ratings "
                        "(some model's few losses or wins were left out); more battles are needed"
                    )
        yield chunk


def intervals(samples: FloatArray, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Percentile intervals per model (column)."""
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail], axis=0)
    return lo, hi


def ranks(lo: FloatArray, hi: FloatArray) -> IntArray:
    """Rank = 1 + the number of models whose lower bound is above this model's upper bound."""
    lo, hi = np.asarray(lo), np.asarray(hi)
    return 1 + (lo[np.newaxis, :] > hi[:, np.newaxis]).sum(axis=1)
