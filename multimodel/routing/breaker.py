"""A per-deployment circuit breaker: `failures` failures within `window_s` open it; after
`cooldown_s` it lets exactly one request through (half-open); that probe's outcome closes it
or opens it again. Memory only, one event loop, so no locks."""

from __future__ import annotations

from collections import deque
from typing import Literal

from multimodel.config.schema import Breaker

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    __slots__ = ("_failures", "_opened_at", "_probing", "closed", "config", "opened")

    def __init__(self, config: Breaker) -> None:
        self.config = config
        self._failures: deque[float] = deque()  # times of recent failures, oldest first
        self._opened_at: float | None = None  # None: closed
        self._probing = False  # half-open and the one probe is in flight
        self.opened = 0  # how many times it opened (for GET /v1/deployments)
        self.closed = 0  # how many times a probe closed it again

    def state(self, now: float) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or now - self._opened_at >= self.config.cooldown_s:
            return "half_open"
        return "open"

    def available(self, now: float) -> bool:
        """May a request use this deployment now? No side effects: `begin` claims the probe."""
        if self._opened_at is None:
            return True
        return not self._probing and now - self._opened_at >= self.config.cooldown_s

    def retry_in(self, now: float) -> float:
        """Seconds until a probe may go through (0 when closed or ready)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.config.cooldown_s - now)

    def begin(self) -> bool:
        """A request starts on this deployment; True when it is the half-open probe."""
        if self._opened_at is not None and not self._probing:
            self._probing = True
            return True
        return False

    def success(self, probe: bool) -> None:
        if probe:
            self._opened_at, self._probing = None, False
            self._failures.clear()
            self.closed += 1

    def failure(self, now: float, probe: bool) -> None:
        if probe:  # the deployment is still down: cool down again
            self._opened_at, self._probing = now, False
            return
        if self._opened_at is not None:
            return  # a request that started before the breaker opened
        window = self._failures
        window.append(now)
        while now - window[0] > self.config.window_s:
            window.popleft()
        if len(window) >= self.config.failures:
            self._opened_at = now
            self.opened += 1
            window.clear()

    def abandon(self, probe: bool) -> None:
        """The attempt ended without telling whether the deployment works (the client left)."""
        if probe:
            self._probing = False

    def recent_failures(self, now: float) -> int:
        return sum(1 for t in self._failures if now - t <= self.config.window_s)
