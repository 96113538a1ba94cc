"""Bradley–Terry ratings: the exact maximum-likelihood fit, on the Elo scale.

P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)); ties and both-bad count as half a win each
way; no regularisation. With log-strengths theta = R * ln(10) / 400 the log-likelihood is concave
and its negative Hessian is the graph Laplacian of the weights n_ab p_ab (1 - p_ab): a 130 x 130
matrix for 130 models, so Newton's method (with step halving, for safety far from the optimum) is
cheap and converges quadratically; we stop when a full step moves every log-strength by < 1e-10.

Divergent ratings: the MLE exists exactly when every model can be linked to every other by a
chain of "beat or tied" results in both directions (the win graph is strongly connected; Zermelo
1929, Ford 1957). Otherwise some group never lost to (or never beat) the rest and its ratings go
to +/- infinity. We do not paper over that with a prior or an iteration cap: `fit` raises
RatingUndefinedError naming the groups ("model X never lost"), and callers decide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from multimodel.preference.pairs import FloatArray, IntArray, Pairs

SCALE = 400 / math.log(10)  # Elo points per unit of log-strength
LEVEL = 1000.0  # the mean rating when no model is anchored
TOL = 1e-10  # convergence, in log-strength
_MAX_NEWTON = 100
_MAX_CHORD = 40

AnyArray = npt.NDArray[Any]


class RatingUndefinedError(ValueError):
    """The maximum-likelihood ratings do not exist (they diverge); the message says which models."""


class BradleyTerry:
    name = "bradley-terry"

    def fit(self, pairs: Pairs) -> FloatArray:
        """Ratings with mean LEVEL, in the order of `pairs.models`."""
        check_identifiable(pairs)
        w_ij, w_ji = _credits(pairs.wins, pairs.losses, pairs.ties)
        theta = _newton(pairs.n_models, pairs.i, pairs.j, w_ij, w_ji, np.zeros(pairs.n_models))
        return _ratings(theta)

    def fit_batch(self, pairs: Pairs, chunks: Iterable[IntArray], start: FloatArray) -> FloatArray:
        """Fit many resamples of `pairs`: each chunk is an array (rounds x cells) of counts laid
        out as Pairs.cells(); returns ratings (all rounds x models), mean LEVEL per round.

        Every round is a small perturbation of the data that gave `start`, so instead of a fresh
        Hessian per round (a 130 x 130 solve each) all rounds iterate with the point estimate's
        Hessian inverse (the chord method); a round that contracts slowly finishes with full
        Newton. Each round still solves its own likelihood equations to TOL. The caller
        guarantees every round is identifiable. Chunks bound the memory of the work arrays.
        """
        theta0 = (start - start.mean()) / SCALE
        p0 = _expit(theta0[pairs.i] - theta0[pairs.j])
        hessian = _laplacian(pairs.n_models, pairs.i, pairs.j, pairs.battles * p0 * (1 - p0))
        inverse = np.linalg.inv(hessian).astype(np.float64, copy=False)
        fitted = [_chord(pairs, np.asarray(chunk, dtype=np.float64), theta0, inverse) for chunk in chunks]
        return _ratings(np.concatenate(fitted)) if fitted else np.empty((0, pairs.n_models))


def fit(pairs: Pairs, anchor: tuple[str, float] | None = None) -> FloatArray:
    """Bradley–Terry ratings, levelled by `anchor` (model, rating) or else to mean LEVEL."""
    return set_level(BradleyTerry().fit(pairs), pairs.models, anchor)


def set_level(ratings: FloatArray, models: Sequence[str], anchor: tuple[str, float] | None) -> FloatArray:
    """Shift ratings (one vector, or one row per bootstrap round) so that the anchor model has
    exactly its rating, or else the mean is LEVEL. Only differences are identified by the data."""
    ratings = np.asarray(ratings, dtype=np.float64)
    if anchor is None:
        return ratings - ratings.mean(axis=-1, keepdims=True) + LEVEL
    model, rating = anchor
    if model not in models:
        raise ValueError(f"anchor model {model!r} has no battles")
    k = list(models).index(model)
    return ratings - ratings[..., k : k + 1] + float(rating)


def information(pairs: Pairs, ratings: FloatArray) -> FloatArray:
    """The Fisher information of the ratings (natural scale) at `ratings` (Elo scale), with the
    free common shift fixed as in the fit: the inverse is a covariance of the rating differences."""
    theta = (np.asarray(ratings, dtype=np.float64) - LEVEL) / SCALE
    p = _expit(theta[pairs.i] - theta[pairs.j])
    return _laplacian(pairs.n_models, pairs.i, pairs.j, pairs.battles * p * (1 - p))


def check_identifiable(pairs: Pairs) -> None:
    """Raise RatingUndefinedError unless the win graph is strongly connected."""
    if pairs.n_models < 2:
        raise RatingUndefinedError("rating undefined: there are no battles between two models")
    beat = _beat_graph(pairs.n_models, pairs.i, pairs.j, pairs.cells())
    if not (_reach(beat, 0).all() and _reach(beat.T, 0).all()):
        raise RatingUndefinedError(_undefined_message(pairs.models, beat, pairs.votes()))


def is_identifiable(n: int, i: IntArray, j: IntArray, cells: IntArray) -> bool:
    """The same test for one set of resampled cells (as Pairs.cells()), without the message."""
    beat = _beat_graph(n, i, j, cells)
    return bool(_reach(beat, 0).all() and _reach(beat.T, 0).all())


def _credits(wins: AnyArray, losses: AnyArray, ties: AnyArray) -> tuple[FloatArray, FloatArray]:
    """(i's wins over j, j's wins over i), a tie or both-bad counting half a win each way."""
    return wins + 0.5 * ties, losses + 0.5 * ties


def _ratings(theta: FloatArray) -> FloatArray:
    return LEVEL + SCALE * (theta - theta.mean(axis=-1, keepdims=True))


def _expit(d: FloatArray) -> FloatArray:
    p = np.array(d, dtype=np.float64)
    _expit_inplace(p)
    return p


def _chord(pairs: Pairs, counts: FloatArray, theta0: FloatArray, inverse: FloatArray) -> FloatArray:
    """Log-strengths for each row of counts, by chord iteration from theta0 (see fit_batch)."""
    n, i, j, k = pairs.n_models, pairs.i, pairs.j, len(pairs.i)
    rows = len(counts)
    w_ij, w_ji = _credits(counts[:, :k], counts[:, k : 2 * k], counts[:, 2 * k :])
    # Flat (round, model) indices for the gradient's scatter-add over all rounds at once.
    offset = (np.arange(rows) * n)[:, np.newaxis]
    flat_i, flat_j = (offset + i).ravel(), (offset + j).ravel()
    # Work arrays reused across steps: fresh multi-MB temporaries cost page faults.
    work, other = np.empty((rows, k)), np.empty((rows, k))

    theta = np.tile(theta0, (rows, 1))
    active = np.arange(rows)  # rows still iterating; t, w, n_k hold just those rows
    t, w, n_k = theta.copy(), w_ij, w_ij + w_ji
    last = np.full(rows, np.inf)
    for _ in range(_MAX_CHORD):
        m = len(active)
        d = work[:m]
        np.take(t, i, axis=1, out=d)
        np.subtract(d, np.take(t, j, axis=1, out=other[:m]), out=d)
        _expit_inplace(d)
        np.multiply(n_k, d, out=d)
        np.subtract(w, d, out=d)  # residuals: wins minus expected wins
        gradient = np.bincount(flat_i[: m * k], d.ravel(), m * n) - np.bincount(
            flat_j[: m * k], d.ravel(), m * n
        )
        # einsum, not @: this small product through threaded BLAS can stall for milliseconds
        # waiting on a busy core, once per step.
        step = np.einsum("rm,mn->rn", gradient.reshape(m, n), inverse)
        t += step
        size = np.abs(step).max(axis=1)
        done = size < TOL
        slow = ~done & (size > 0.5 * last)  # contracting slowly: Newton finishes it
        last = size
        if not (done.any() or slow.any()):
            continue
        theta[active] = t
        for r in active[slow]:
            theta[r] = _newton(n, i, j, w_ij[r], w_ji[r], theta[r])
        keep = ~done & ~slow
        active, t, w, n_k, last = active[keep], t[keep], w[keep], n_k[keep], last[keep]
        if not active.size:
            break
    theta[active] = t
    for r in active:
        theta[r] = _newton(n, i, j, w_ij[r], w_ji[r], theta[r])
    return theta


def _expit_inplace(d: FloatArray) -> None:
    """d <- 1 / (1 + exp(-d)), without temporaries."""
    # exp(-d) overflows to inf only where the exact value is below 1e-308; then p = 0 is exact.
    with np.errstate(over="ignore"):
        np.negative(d, out=d)
        np.exp(d, out=d)
        d += 1.0
        np.reciprocal(d, out=d)


def _loglik(i: IntArray, j: IntArray, w_ij: FloatArray, w_ji: FloatArray, theta: FloatArray) -> float:
    d = theta[i] - theta[j]
    return -float(w_ij @ np.logaddexp(0.0, -d) + w_ji @ np.logaddexp(0.0, d))


def _laplacian(n: int, i: IntArray, j: IntArray, weight: FloatArray) -> FloatArray:
    """The negative Hessian, plus c on every entry: that fixes the one free direction (adding a
    constant to all ratings) and, for gradients summing to zero, gives the zero-mean step."""
    lap = np.zeros((n, n))
    lap[i, j] = -weight
    lap[j, i] = -weight
    degree = np.bincount(i, weight, n) + np.bincount(j, weight, n)
    lap[np.diag_indices(n)] = degree
    return lap + degree.mean() / n


def _newton(
    n: int, i: IntArray, j: IntArray, w_ij: FloatArray, w_ji: FloatArray, theta: FloatArray
) -> FloatArray:
    n_k = w_ij + w_ji
    theta = theta.copy()
    ll = _loglik(i, j, w_ij, w_ji, theta)
    for _ in range(_MAX_NEWTON):
        p = _expit(theta[i] - theta[j])
        residual = w_ij - n_k * p
        gradient = np.bincount(i, residual, n) - np.bincount(j, residual, n)
        step = np.linalg.solve(_laplacian(n, i, j, n_k * p * (1 - p)), gradient)
        scale = 1.0
        while True:  # halve the step while it lowers the likelihood (only ever far from the optimum)
            candidate = theta + scale * step
            ll_candidate = _loglik(i, j, w_ij, w_ji, candidate)
            if ll_candidate >= ll - 1e-12 * abs(ll) or scale < 1e-9:
                break
            scale /= 2
        theta, ll = candidate, ll_candidate
        if scale == 1.0 and np.abs(step).max() < TOL:
            return theta
    raise RuntimeError(f"Bradley–Terry Newton iteration did not converge in {_MAX_NEWTON} steps")


def win_edges(cells: IntArray) -> np.ndarray:
    """For cells as Pairs.cells(): [i got credit over j (a win or a tie), j got credit over i],
    per pair: the edges of the win graph whose strong connectivity decides identifiability."""
    wins, losses, ties = np.split(cells, 3)
    return np.concatenate([(wins > 0) | (ties > 0), (losses > 0) | (ties > 0)])


def _beat_graph(n: int, i: IntArray, j: IntArray, cells: IntArray) -> np.ndarray:
    """beat[a, b]: a got some credit over b."""
    forward, backward = np.split(win_edges(cells), 2)
    beat = np.zeros((n, n), dtype=bool)
    beat[i, j] = forward
    beat[j, i] = backward
    return beat


def _reach(graph: np.ndarray, start: int) -> np.ndarray:
    seen = np.zeros(len(graph), dtype=bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = graph[frontier].any(axis=0) & ~seen
        seen |= frontier
    return seen


def _undefined_message(models: Sequence[str], beat: np.ndarray, votes: IntArray) -> str:
    n = len(models)
    reach = np.array([_reach(beat, s) for s in range(n)])
    component = (reach & reach.T).argmax(axis=1)  # lowest index of each model's component
    problems = []
    for c in np.unique(component):
        inside = component == c
        names = [models[int(k)] for k in np.flatnonzero(inside)]
        never_lost = not beat[np.ix_(~inside, inside)].any()
        never_won = not beat[np.ix_(inside, ~inside)].any()
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if len(names) == 1 and votes[c] == 0:
            problems.append(f"model {shown} has no battles")
        elif never_lost and never_won:
            problems.append(f"no battles connect {shown} with the other models")
        elif never_lost:
            who = f"model {shown}" if len(names) == 1 else f"models {shown} (as a group)"
            problems.append(f"{who} never lost" + ("" if len(names) == 1 else " to the others"))
        elif never_won:
            who = f"model {shown}" if len(names) == 1 else f"models {shown} (as a group)"
            problems.append(f"{who} never won" + ("" if len(names) == 1 else " against the others"))
    return "rating undefined, the maximum-likelihood ratings diverge: " + "; ".join(problems)
