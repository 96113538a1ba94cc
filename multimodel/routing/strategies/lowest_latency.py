"""Fastest: the lowest mean latency over the recent window. A deployment without recent samples
counts as fastest, so new and recovered deployments get traffic and a measurement."""

from __future__ import annotations

from collections.abc import Sequence

from multimodel.routing.deployment import Deployment
from multimodel.routing.strategies.base import State, pick_lowest


def choose(deployments: Sequence[Deployment], state: State) -> Deployment:
    return pick_lowest(deployments, lambda d: d.latency.mean(state.now) or 0.0, state)
