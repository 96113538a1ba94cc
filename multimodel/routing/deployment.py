"""One deployment at run time: its config, its provider instance, and the in-memory state the
strategies and the breaker read (requests in flight, recent latency)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from multimodel.config.schema import DeploymentConfig
from multimodel.providers.base import Provider
from multimodel.routing.breaker import CircuitBreaker

LATENCY_WINDOW_S = 60.0  # latencies older than this no longer count
_LATENCY_SAMPLES = 64


class LatencyWindow:
    """Recent latencies (ms) of one deployment: a moving window over time and count. A failure
    is recorded as a slow answer (its first-byte timeout), so it is avoided for a while but,
    once the window has moved on, tried again."""

    __slots__ = ("_samples",)

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=_LATENCY_SAMPLES)

    def add(self, now: float, ms: float) -> None:
        self._samples.append((now, ms))

    def mean(self, now: float) -> float | None:
        recent = [ms for t, ms in self._samples if now - t <= LATENCY_WINDOW_S]
        return sum(recent) / len(recent) if recent else None


@dataclass(eq=False, slots=True)
class Deployment:
    config: DeploymentConfig
    provider: Provider
    breaker: CircuitBreaker | None = None
    in_flight: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def weight(self) -> float:
        return self.config.weight

    @property
    def cost(self) -> float:
        """USD per million input + output tokens; unpriced (self-hosted) counts as free."""
        p = self.config.price
        return 0.0 if p is None else p.per_mtok
