"""Least busy: the deployment with the fewest requests in flight from this gateway."""

from __future__ import annotations

from collections.abc import Sequence

from multimodel.routing.deployment import Deployment
from multimodel.routing.strategies.base import State, pick_lowest


def choose(deployments: Sequence[Deployment], state: State) -> Deployment:
    return pick_lowest(deployments, lambda d: d.in_flight, state)
