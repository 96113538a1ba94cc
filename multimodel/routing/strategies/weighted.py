"""Weighted random: each deployment gets its `weight`'s share of the requests."""

from __future__ import annotations

from collections.abc import Sequence

from multimodel.routing.deployment import Deployment
from multimodel.routing.strategies.base import State


def choose(deployments: Sequence[Deployment], state: State) -> Deployment:
    weights = [d.weight for d in deployments]
    if not any(weights):  # all weights 0: the only ones left are backups, share equally
        return state.rng.choice(deployments)
    return state.rng.choices(deployments, weights)[0]
