"""Run one client request along a route until a deployment answers.

The order: the model's available deployments, best first by its strategy, each once and without
waiting; then `retries.attempts` more tries, each after a backoff; then each fallback model the
same way, while the failure is one that `fallback_on` names; all within `deadline_s`.

An attempt *commits* when the answer's first content (or its end) arrives: a non-streaming
answer must be complete, a stream must have produced its first text or tool call. Until then
nothing has reached the client, so a failure moves on to the next try transparently; after it,
the stream is the client's and is never retried (nothing is billed twice). Every attempt is
recorded as an AttemptRow in the caller's list, which ends up in the `attempts` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from multimodel.errors import GatewayError
from multimodel.routing.deployment import Deployment
from multimodel.routing.retry import TRANSIENT, backoff, condition
from multimodel.routing.router import Route
from multimodel.store.usage import AttemptRow
from multimodel.types import (
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Event,
    Finish,
    TextDelta,
    ToolCallStart,
)

log = logging.getLogger("multimodel")

Item = Event | list[Event]
T = TypeVar("T")
_COMMITS = (TextDelta, ToolCallStart, Finish)


@dataclass(slots=True)
class Answer:
    route: Route  # the model that answered: the one asked for, or a fallback
    deployment: Deployment
    head: list[Event]  # everything up to the commit (a non-streaming answer: all of it)
    rest: AsyncIterator[Item] | None  # the rest of a stream; None when head is the whole answer


class CircuitOpen(GatewayError):
    """Every deployment of a model is cooling down: no attempt was made, so always fall back."""


async def answer(route: Route, req: ChatRequest, log: list[AttemptRow], *, fallbacks: bool = True) -> Answer:
    """The first answer along the route (and its fallbacks), or the last error."""

    async def attempt(model: Route, dep: Deployment, deadline: float | None) -> Answer:
        return await _attempt(model, dep, req, log, deadline)

    return await _along(route, attempt, lambda model: capable(model, req), fallbacks)


async def embed(
    route: Route, req: EmbedRequest, log: list[AttemptRow], *, fallbacks: bool = True
) -> tuple[Route, Deployment, EmbedResult]:
    """Embeddings along the route, with the same failover, retries, breakers and fallbacks."""

    async def attempt(
        model: Route, dep: Deployment, deadline: float | None
    ) -> tuple[Route, Deployment, EmbedResult]:
        row = _begin(model, dep, log)
        t0, probe = time.perf_counter(), dep.breaker.begin() if dep.breaker is not None else False
        try:
            call = dep.provider.embed(req)
            result = await (
                call if deadline is None else asyncio.wait_for(call, max(0.0, deadline - time.monotonic()))
            )
        except TimeoutError:
            err = _late(model.policy.deadline_s)
            _failed(dep, row, err, t0, probe)
            raise err from None
        except GatewayError as err:
            _failed(dep, row, err, t0, probe)
            raise
        except BaseException:
            _aborted(dep, row, t0, probe)
            raise
        _succeeded(dep, row, t0, probe)
        return model, dep, result

    return await _along(route, attempt, lambda model: model.provider.capabilities.embeddings, fallbacks)


async def _along(
    route: Route,
    attempt: Callable[[Route, Deployment, float | None], Awaitable[T]],
    eligible: Callable[[Route], bool],
    fallbacks: bool,
) -> T:
    """The model, then (while the failure is one `fallback_on` names) each eligible fallback."""
    policy = route.policy
    deadline = None if policy.deadline_s is None else time.monotonic() + policy.deadline_s
    last: GatewayError | None = None
    for model in (route, *route.fallbacks) if fallbacks else (route,):
        if last is not None:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not eligible(model):
                continue
        try:
            return await _try_model(model, attempt, deadline)
        except CircuitOpen as err:
            last = err
        except GatewayError as err:
            last = err
            if condition(err) not in policy.fallback_on:
                raise
    assert last is not None
    raise last


def capable(route: Route, req: ChatRequest) -> bool:
    return route.provider.capabilities.missing(req) is None


async def _try_model(
    model: Route, attempt: Callable[[Route, Deployment, float | None], Awaitable[T]], deadline: float | None
) -> T:
    """Each available deployment once, then `retries.attempts` more tries after backoffs."""
    last: GatewayError | None = None
    tried: set[Deployment] = set()
    while (dep := _pick(model, tried)) is not None:
        try:
            return await attempt(model, dep, deadline)
        except GatewayError as err:
            last = _retryable(err, deadline)
            tried.add(dep)
    if last is None:
        raise _circuit_open(model)
    retries = model.policy.retries
    for n in range(1, retries.attempts + 1):
        wait = backoff(n, retries, last.retry_after, model.state.rng)
        if wait is None or (deadline is not None and time.monotonic() + wait >= deadline):
            break
        await asyncio.sleep(wait)
        dep = _pick(model, ())
        if dep is None:
            break
        try:
            return await attempt(model, dep, deadline)
        except GatewayError as err:
            last = _retryable(err, deadline)
    raise last


def _retryable(err: GatewayError, deadline: float | None) -> GatewayError:
    """The error, when another try may still help; else raised on."""
    if condition(err) not in TRANSIENT or (deadline is not None and time.monotonic() >= deadline):
        raise err
    return err


def _pick(model: Route, exclude: set[Deployment] | tuple[()]) -> Deployment | None:
    deployments = model.deployments
    if len(deployments) == 1 and deployments[0].breaker is None:  # the common case: no choice
        return None if deployments[0] in exclude else deployments[0]
    now = time.monotonic()
    ok = [d for d in deployments if d not in exclude and (d.breaker is None or d.breaker.available(now))]
    if len(ok) <= 1:
        return ok[0] if ok else None
    model.state.now = now
    return model.strategy(ok, model.state)


def _circuit_open(model: Route) -> CircuitOpen:
    now = time.monotonic()
    wait = min(d.breaker.retry_in(now) for d in model.deployments if d.breaker is not None)
    return CircuitOpen(
        "overloaded",
        f"model {model.name!r} is unavailable: every deployment is cooling down after failures",
        retry_after=str(max(1, math.ceil(wait))),
    )


async def _attempt(
    model: Route, dep: Deployment, req: ChatRequest, log: list[AttemptRow], deadline: float | None
) -> Answer:
    row = _begin(model, dep, log)
    t0 = time.perf_counter()
    breaker = dep.breaker
    probe = breaker.begin() if breaker is not None else False
    events = dep.provider.stream(req)
    try:
        if deadline is None:
            head, rest = await _head(events, req.stream)
        else:
            head, rest = await _head_by(events, req.stream, deadline, model.policy.deadline_s)
    except GatewayError as err:
        await _aclose(events)
        _failed(dep, row, err, t0, probe)
        raise
    except BaseException:  # cancelled, or a bug in a provider: no verdict on the deployment
        await _aclose(events)
        _aborted(dep, row, t0, probe)
        raise
    if rest is None:
        _succeeded(dep, row, t0, probe)
        return Answer(model, dep, head, None)
    dep.latency.add(time.monotonic(), (time.perf_counter() - t0) * 1000)
    if breaker is not None:
        breaker.success(probe)
    return Answer(model, dep, head, _Tail(rest, dep, row, t0, type(head[-1]) is Finish))


async def _head(events: AsyncIterator[Item], stream: bool) -> tuple[list[Event], AsyncIterator[Item] | None]:
    """Read until the commit point: the whole answer, or a stream's first content."""
    head: list[Event] = []
    async for item in events:
        if isinstance(item, list):
            head += item
            if stream and any(isinstance(ev, _COMMITS) for ev in item):
                return head, events
        else:
            head.append(item)
            if stream and isinstance(item, _COMMITS):
                return head, events
    if not head:
        raise GatewayError("upstream", "upstream returned an empty answer")
    return head, None


async def _head_by(
    events: AsyncIterator[Item], stream: bool, deadline: float, deadline_s: float | None
) -> tuple[list[Event], AsyncIterator[Item] | None]:
    late = _late(deadline_s)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise late
    try:
        async with asyncio.timeout(remaining):
            return await _head(events, stream)
    except TimeoutError:
        raise late from None


def _begin(model: Route, dep: Deployment, log: list[AttemptRow]) -> AttemptRow:
    row = AttemptRow(
        len(log) + 1, model.name, dep.id, dep.config.provider, "error", None, None, 0.0, time.time()
    )
    log.append(row)
    dep.in_flight += 1
    return row


def _late(deadline_s: float | None) -> GatewayError:
    return GatewayError("timeout", f"no answer within the request's deadline ({deadline_s:g} s)")


def _aborted(dep: Deployment, row: AttemptRow, t0: float, probe: bool) -> None:
    """Cancelled, or a bug in a provider: no verdict on the deployment."""
    _ended(dep, row, "aborted", t0)
    if dep.breaker is not None:
        dep.breaker.abandon(probe)


def _succeeded(dep: Deployment, row: AttemptRow, t0: float, probe: bool) -> None:
    """A complete answer: the attempt is ok, the deployment healthy and this fast."""
    dep.latency.add(time.monotonic(), (time.perf_counter() - t0) * 1000)
    if dep.breaker is not None:
        dep.breaker.success(probe)
    row.status = 200
    _ended(dep, row, "ok", t0)


def _failed(dep: Deployment, row: AttemptRow, err: GatewayError, t0: float, probe: bool) -> None:
    if err.upstream_status in (401, 403):  # the client got a plain 502: the operator must hear why
        log.warning(
            "model %s, deployment %s (%s): the upstream refused the gateway's credentials (HTTP %d); "
            "check its API key and account",
            row.public_model,
            dep.id,
            dep.config.provider,
            err.upstream_status,
        )
    cond = condition(err)
    row.status, row.error_type = err.upstream_status, cond or err.kind
    _ended(dep, row, "error", t0)
    if dep.breaker is None:
        return
    if cond in TRANSIENT:
        now = time.monotonic()
        dep.breaker.failure(now, probe)
        dep.latency.add(now, dep.config.timeouts.first_byte * 1000)  # see LatencyWindow
    else:
        dep.breaker.success(probe)  # it answered: the request was at fault, not the deployment


def _ended(dep: Deployment, row: AttemptRow, outcome: str, t0: float) -> None:
    row.outcome = outcome
    row.latency_ms = (time.perf_counter() - t0) * 1000
    dep.in_flight -= 1


class _Tail:
    """The rest of a committed stream: passes items through and records how the attempt ended."""

    __slots__ = ("_dep", "_events", "_finished", "_open", "_row", "_t0")

    def __init__(
        self, events: AsyncIterator[Item], dep: Deployment, row: AttemptRow, t0: float, finished: bool
    ) -> None:
        self._events, self._dep, self._row, self._t0 = events, dep, row, t0
        self._finished = finished  # a Finish went by: the answer is complete
        self._open = True

    def __aiter__(self) -> _Tail:
        return self

    async def __anext__(self) -> Item:
        try:
            item = await anext(self._events)
        except StopAsyncIteration:
            self._end("ok")
            raise
        except GatewayError as err:
            if self._open:
                self._open = False
                _failed(self._dep, self._row, err, self._t0, probe=False)
            raise
        last = item[-1] if isinstance(item, list) and item else item
        if type(last) is Finish:
            self._finished = True
        return item

    async def aclose(self) -> None:
        try:
            await _aclose(self._events)
        finally:
            self._end("ok" if self._finished else "aborted")

    def _end(self, outcome: str) -> None:
        if self._open:
            self._open = False
            if outcome == "ok":
                self._row.status = 200
            _ended(self._dep, self._row, outcome, self._t0)


async def _aclose(events: AsyncIterator[Item]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
