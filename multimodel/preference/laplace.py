"""Posterior draws of Bradley–Terry ratings by the Laplace (normal) approximation: centred on the
maximum-likelihood fit, with the inverse Fisher information as covariance.

The `auto` route samples from this rather than from a bootstrap: on a handful of votes a bootstrap
is overconfident (resampling a single thumbs-up returns that thumbs-up every time, so a model with
one lucky vote would take all the traffic), while the curvature of the likelihood says how little
a few votes know. With many votes the two agree.
"""

from __future__ import annotations

import numpy as np

from multimodel.preference.bradley_terry import SCALE, BradleyTerry, information, set_level
from multimodel.preference.pairs import FloatArray, Pairs


def laplace_draws(pairs: Pairs, rounds: int, seed: int = 0) -> FloatArray:
    """`rounds` draws of the ratings (rounds x models, Elo scale, mean 1000 in each draw). Raises
    RatingUndefinedError when the fit does not exist."""
    ratings = BradleyTerry().fit(pairs)
    covariance = np.linalg.inv(information(pairs, ratings))
    chol = np.linalg.cholesky((covariance + covariance.T) / 2)
    z = np.random.default_rng(seed).standard_normal((rounds, pairs.n_models)) @ chol.T
    return set_level(ratings + SCALE * z, pairs.models, None)
