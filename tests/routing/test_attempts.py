"""The attempt loop against real local upstreams over loopback: retries, failover between
deployments, fallbacks by condition, deadlines, streams that fail before and after their first
content, and breakers that open, probe and close. Each attempt is recorded."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from multimodel.config.schema import parse
from multimodel.errors import GatewayError
from multimodel.providers import http
from multimodel.providers.base import ProviderContext
from multimodel.routing.attempts import Answer, answer
from multimodel.routing.router import Router
from multimodel.store.usage import AttemptRow
from multimodel.types import ChatRequest, ChatResult, Message, TextDelta, TextPart
from tests.fakes.upstream import BreakStream, Fail, FakeUpstream, Hang, Reply, closed_port_url

pytestmark = pytest.mark.timeout(60)
T = TypeVar("T")


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def _openai(up: FakeUpstream | str, **more: Any) -> dict[str, Any]:
    base = up if isinstance(up, str) else up.openai_base
    return {"provider": "openai", "model": "gpt-4o-mini", "api_base": base, **more}


def _run(models: list[dict[str, Any]], fn: Callable[[Router], Awaitable[T]]) -> T:
    settings = parse({"models": models}, source="test")

    async def main() -> T:
        ctx = ProviderContext(http=http.new_session())
        try:
            return await fn(Router.build(settings, ctx, rng=random.Random(1)))
        finally:
            await ctx.http.close()

    return asyncio.run(main())


def _req(model: str, stream: bool = False) -> ChatRequest:
    return ChatRequest(model, [Message("user", [TextPart("hello there")])], stream=stream)


async def _ask(router: Router, model: str, stream: bool = False) -> tuple[Answer, list[AttemptRow], str]:
    log: list[AttemptRow] = []
    a = await answer(router.routes[model], _req(model, stream), log)
    result = ChatResult()
    for ev in a.head:
        result.add(ev)
    if a.rest is not None:
        async for item in a.rest:
            for ev in item if isinstance(item, list) else [item]:
                result.add(ev)
    return a, log, result.text


def _outcomes(log: list[AttemptRow]) -> list[tuple[str, str, str | None, int | None]]:
    return [(a.deployment, a.outcome, a.error_type, a.status) for a in log]


def test_no_retries_unless_configured(up: FakeUpstream) -> None:
    up.push(Fail(status=500))

    async def go(router: Router) -> list[AttemptRow]:
        log: list[AttemptRow] = []
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["m"], _req("m"), log)
        assert e.value.kind == "upstream" and e.value.status == 502
        return log

    log = _run([{"name": "m", **_openai(up)}], go)
    assert up.calls == 1 and _outcomes(log) == [("m", "error", "server_error", 500)]


def test_429_retry_after_is_honoured_then_the_retry_answers(up: FakeUpstream) -> None:
    up.push(Fail(status=429, retry_after="0.4"))
    model = {"name": "m", **_openai(up), "retries": {"attempts": 2, "backoff_s": 0.01, "max_backoff_s": 5}}
    started = time.monotonic()
    a, log, text = _run([model], lambda r: _ask(r, "m"))
    assert time.monotonic() - started >= 0.4  # never sooner than the upstream asked
    assert text == "Echo: hello there" and a.route.name == "m" and up.calls == 2
    assert _outcomes(log) == [("m", "error", "rate_limit", 429), ("m", "ok", None, 200)]
    assert [a.n for a in log] == [1, 2] and all(a.latency_ms > 0 for a in log)


def test_retries_are_bounded_and_back_off(up: FakeUpstream) -> None:
    up.push(*[Fail(status=529)] * 4)
    model = {"name": "m", **_openai(up), "retries": {"attempts": 2, "backoff_s": 0.1, "max_backoff_s": 1}}

    async def go(router: Router) -> list[AttemptRow]:
        log: list[AttemptRow] = []
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["m"], _req("m"), log)
        assert e.value.kind == "overloaded"
        return log

    started = time.monotonic()
    log = _run([model], go)
    assert up.calls == 3 and len(log) == 3  # the first try + 2 retries, never more
    assert time.monotonic() - started >= (0.1 + 0.2) * 0.75  # two backoffs, jitter takes at most 25%


def test_a_retry_after_beyond_max_backoff_falls_back_at_once(up: FakeUpstream) -> None:
    up.push(Fail(status=429, retry_after="30"))
    models = [
        {"name": "m", **_openai(up), "fallbacks": ["b"], "retries": {"attempts": 3, "max_backoff_s": 2}},
        {"name": "b", "provider": "anthropic", "model": "claude-haiku-4-5", "api_base": up.anthropic_base},
    ]
    started = time.monotonic()
    a, log, text = _run(models, lambda r: _ask(r, "m"))
    assert time.monotonic() - started < 15  # did not wait the 30 s
    assert a.route.name == "b" and text == "Echo: hello there"
    assert [(x.public_model, x.provider, x.outcome) for x in log] == [
        ("m", "openai", "error"),
        ("b", "anthropic", "ok"),
    ]
    assert up.requests[-1].path == "/v1/messages"


def test_a_refused_deployment_fails_over_to_the_next_one_without_waiting(up: FakeUpstream) -> None:
    model = {
        "name": "m",
        "deployments": [
            {"id": "down", **_openai(closed_port_url() + "/v1"), "weight": 1},
            {"id": "up", **_openai(up), "weight": 0},  # weight 0: only when the other fails
        ],
    }
    a, log, text = _run([model], lambda r: _ask(r, "m"))
    assert a.deployment.id == "up" and text == "Echo: hello there"
    assert _outcomes(log) == [("down", "error", "connection", None), ("up", "ok", None, 200)]


def test_fallbacks_follow_fallback_on(up: FakeUpstream) -> None:
    models = [
        {"name": "m", **_openai(up), "fallbacks": ["b"], "fallback_on": ["rate_limit"]},
        {"name": "b", **_openai(up)},
    ]

    async def go(router: Router) -> None:
        up.push(Fail(status=500))
        with pytest.raises(GatewayError):  # 5xx is not listed: no fallback
            await answer(router.routes["m"], _req("m"), [])
        assert up.calls == 1
        up.push(Fail(status=429))
        a = await answer(router.routes["m"], _req("m"), [])
        assert a.route.name == "b" and up.calls == 3
        up.push(Fail(status=400))  # the request's own fault: never a fallback
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["m"], _req("m"), [])
        assert e.value.kind == "invalid_request" and up.calls == 4

    _run(models, go)


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("openai", "This model's maximum context length is 8192 tokens."),
        ("anthropic", "prompt is too long: 210000 tokens > 200000 maximum"),
    ],
)
def test_context_length_falls_back_and_is_never_retried(
    up: FakeUpstream, provider: str, message: str
) -> None:
    base = up.openai_base if provider == "openai" else up.anthropic_base
    small = {"name": "small", "provider": provider, "model": "x", "api_base": base}
    models = [
        {**small, "fallbacks": ["big"], "retries": {"attempts": 3, "backoff_s": 0.01}},
        {"name": "big", **_openai(up)},
    ]
    up.push(Fail(status=400, message=message))
    a, log, _ = _run(models, lambda r: _ask(r, "small"))
    assert a.route.name == "big" and up.calls == 2
    assert _outcomes(log)[0] == ("small", "error", "context_length", 400)

    async def not_listed(router: Router) -> None:
        up.push(Fail(status=400, message=message))
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["small"], _req("small"), [])
        assert e.value.status == 400 and e.value.code == "context_length_exceeded"

    models[0]["fallback_on"] = ["server_error"]
    _run(models, not_listed)


def test_the_deadline_bounds_every_attempt_and_wait(up: FakeUpstream) -> None:
    up.push(*[Hang(seconds=10)] * 3)
    model = {
        "name": "m",
        **_openai(up),
        "deadline_s": 0.5,
        "retries": {"attempts": 5, "backoff_s": 0.05},
        "timeouts": {"connect": 5, "first_byte": 30, "total": 60},
    }

    async def go(router: Router) -> list[AttemptRow]:
        log: list[AttemptRow] = []
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["m"], _req("m"), log)
        assert e.value.kind == "timeout" and "deadline" in e.value.message
        return log

    started = time.monotonic()
    log = _run([model], go)
    assert time.monotonic() - started < 8  # the 30 s first-byte timeout never came into play
    assert len(log) == 1 and log[0].error_type == "timeout"


def test_a_stream_that_breaks_before_its_first_content_fails_over(up: FakeUpstream) -> None:
    up.push(BreakStream(after_chunks=1))  # only the role chunk, then the connection drops
    model = {"name": "m", **_openai(up), "retries": {"attempts": 1, "backoff_s": 0.01}}
    a, log, text = _run([model], lambda r: _ask(r, "m", stream=True))
    assert text == "Echo: hello there" and any(isinstance(e, TextDelta) for e in a.head)
    assert _outcomes(log) == [("m", "error", "connection", None), ("m", "ok", None, 200)]


def test_a_stream_that_breaks_after_its_first_content_is_never_retried(up: FakeUpstream) -> None:
    up.push(BreakStream(after_chunks=3), Reply(text="never asked for"))
    model = {"name": "m", **_openai(up), "retries": {"attempts": 3, "backoff_s": 0.01}}

    async def go(router: Router) -> list[AttemptRow]:
        log: list[AttemptRow] = []
        with pytest.raises(GatewayError) as e:
            await _ask_into(router, log)
        assert e.value.condition == "connection"
        return log

    async def _ask_into(router: Router, log: list[AttemptRow]) -> None:
        a = await answer(router.routes["m"], _req("m", stream=True), log)
        assert a.rest is not None
        async for _ in a.rest:
            pass

    log = _run([model], go)
    assert up.calls == 1 and _outcomes(log) == [("m", "error", "connection", None)]


def test_breaker_opens_skips_probes_and_closes_when_the_deployment_is_back(up: FakeUpstream) -> None:
    with FakeUpstream() as flaky:
        model = {
            "name": "m",
            "breaker": {"failures": 2, "window_s": 60, "cooldown_s": 0.3},
            "deployments": [
                {"id": "flaky", **_openai(flaky), "weight": 1},
                {"id": "steady", **_openai(up), "weight": 0},
            ],
        }

        async def go(router: Router) -> None:
            flaky_dep = router.routes["m"].deployments[0]
            assert flaky_dep.breaker is not None
            flaky.kill()
            for _ in range(2):  # refused, then answered by the other deployment
                _, log, _ = await _ask(router, "m")
                assert [x.deployment for x in log] == ["flaky", "steady"]
            assert flaky_dep.breaker.state(time.monotonic()) == "open"
            _, log, _ = await _ask(router, "m")
            assert [x.deployment for x in log] == ["steady"]  # skipped while cooling down
            await asyncio.sleep(0.35)
            _, log, _ = await _ask(router, "m")  # the probe: still down, so open again
            assert [x.deployment for x in log] == ["flaky", "steady"]
            assert flaky_dep.breaker.state(time.monotonic()) == "open"
            flaky.revive()
            await asyncio.sleep(0.35)
            _, log, _ = await _ask(router, "m")
            assert [(x.deployment, x.outcome) for x in log] == [("flaky", "ok")]
            assert flaky_dep.breaker.state(time.monotonic()) == "closed"
            assert (flaky_dep.breaker.opened, flaky_dep.breaker.closed) == (1, 1)
            assert flaky_dep.in_flight == 0 and router.routes["m"].deployments[1].in_flight == 0

        _run([model], go)


def test_every_deployment_cooling_down_is_a_clean_503_or_a_fallback(up: FakeUpstream) -> None:
    models = [
        {
            "name": "m",
            **_openai(closed_port_url() + "/v1"),
            "breaker": {"failures": 1, "cooldown_s": 30},
        },
        {
            "name": "f",
            **_openai(closed_port_url() + "/v1"),
            "breaker": {"failures": 1, "cooldown_s": 30},
            "fallbacks": ["b"],
            "fallback_on": [],  # an open circuit falls back all the same: nothing was tried
        },
        {"name": "b", **_openai(up)},
    ]

    async def go(router: Router) -> None:
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["m"], _req("m"), [])
        assert e.value.condition == "connection"
        log: list[AttemptRow] = []
        with pytest.raises(GatewayError) as e:
            await answer(router.routes["m"], _req("m"), log)
        assert e.value.kind == "overloaded" and e.value.retry_after is not None
        assert 1 <= int(e.value.retry_after) <= 30 and log == []
        with pytest.raises(GatewayError):
            await answer(router.routes["f"], _req("f"), [])  # trips f's breaker
        a = await answer(router.routes["f"], _req("f"), log)
        assert a.route.name == "b" and [x.public_model for x in log] == ["b"]

    _run(models, go)
