"""Routing strategies, one module each, registered here by name (see base.py for the seam)."""

from __future__ import annotations

from multimodel.routing.strategies import least_inflight, lowest_cost, lowest_latency, weighted
from multimodel.routing.strategies.base import State, Strategy

STRATEGIES: dict[str, Strategy] = {
    "weighted": weighted.choose,
    "least_inflight": least_inflight.choose,
    "lowest_latency": lowest_latency.choose,
    "lowest_cost": lowest_cost.choose,
}

__all__ = ["STRATEGIES", "State", "Strategy"]
