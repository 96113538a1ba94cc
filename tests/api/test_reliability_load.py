"""200 concurrent client requests (OpenAI and Anthropic formats, SDKs and raw HTTP, streaming
and not) while 30% of the upstream calls misbehave; then one upstream is killed under another
100 and brought back. Every request gets a correct answer or a clean error in its own format, none
hangs, none gets a 500; the usage log has exactly one row per request, with its attempts; the
killed upstream's breakers open, then close once it is back."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.fakes.upstream import BreakStream, Fail, FakeUpstream, Hang, Malformed
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_anthropic_stream, check_openai_stream

pytestmark = pytest.mark.timeout(120)
T = TypeVar("T")

FAULTS = [
    Fail(status=429, retry_after="0"),
    Fail(status=500),
    Fail(status=529),
    Hang(seconds=4),  # past the first-byte timeout
    BreakStream(after_chunks=2),  # the connection closes mid-answer
    Malformed(),
]
POLICY = {
    "retries": {"attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.2},
    "deadline_s": 15,
    # Under 30% faults a deployment sees a few failures per 100 requests anyway; a dead one fails
    # every call, and that is what should open its breaker.
    "breaker": {"failures": 20, "window_s": 1, "cooldown_s": 0.5},
}
# Short, but not so short that a busy test machine makes healthy calls time out.
TIMEOUTS = {"connect": 1, "first_byte": 2, "total": 10}
KINDS = ["openai-sdk", "anthropic-sdk", "openai-http", "anthropic-http"]
ERROR_STATUSES = {429, 502, 503, 504, 529}


def _config(a: FakeUpstream, b: FakeUpstream, database: str) -> dict[str, Any]:
    def dep(up: FakeUpstream, provider: str, name: str) -> dict[str, Any]:
        base = up.openai_base if provider == "openai" else up.anthropic_base
        model = "gpt-4o-mini" if provider == "openai" else "claude-haiku-4-5"
        return {"id": name, "provider": provider, "model": model, "api_base": base, "timeouts": TIMEOUTS}

    return {
        "database": database,
        "models": [
            {
                "name": "gpt",
                "strategy": "least_inflight",
                "fallbacks": ["claude"],
                "deployments": [dep(a, "openai", "gpt-a"), dep(b, "openai", "gpt-b")],
                **POLICY,
            },
            {
                "name": "claude",
                "fallbacks": ["gpt"],
                "deployments": [dep(a, "anthropic", "claude-a"), dep(b, "anthropic", "claude-b")],
                **POLICY,
            },
        ],
    }


@pytest.fixture
def two() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream() as a, FakeUpstream() as b:
        yield a, b


async def _one(
    i: int, gw: GatewayProcess, http: httpx.AsyncClient, oc: openai.AsyncOpenAI, ac: anthropic.AsyncAnthropic
) -> tuple[str, str]:
    """One request of kind i % 4, streaming every other time; returns (request id, outcome)."""
    kind, stream = KINDS[i % 4], (i // 4) % 2 == 1
    model = "gpt" if i % 3 else "claude"
    prompt = f"question {i}"
    want = f"Echo: {prompt}"
    messages: Any = [{"role": "user", "content": prompt}]
    if kind == "openai-sdk":
        try:
            raw = await oc.chat.completions.with_raw_response.create(
                model=model, messages=messages, stream=stream
            )
        except openai.APIStatusError as e:
            return _clean_error(e.response, "openai")
        rid = raw.headers["x-request-id"]
        try:
            if stream:
                text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
            else:
                text = (raw.parse()).choices[0].message.content or ""
        except openai.APIError as e:  # an error event after the stream began
            assert e.message and "Traceback" not in e.message
            return rid, "stream-error"
        assert text == want, (rid, text)
        return rid, "ok"
    if kind == "anthropic-sdk":
        try:
            araw = await ac.messages.with_raw_response.create(
                model=model, max_tokens=50, messages=messages, stream=stream
            )
        except anthropic.APIStatusError as e:
            return _clean_error(e.response, "anthropic")
        rid = araw.headers["x-request-id"]
        try:
            if stream:
                parts = [
                    ev.delta.text
                    async for ev in await araw.parse()
                    if ev.type == "content_block_delta" and ev.delta.type == "text_delta"
                ]  # type: ignore[union-attr]
                text = "".join(parts)
            else:
                text = (await araw.parse()).content[0].text  # type: ignore[union-attr]
        except anthropic.APIError as e:
            assert "Traceback" not in str(e)
            return rid, "stream-error"
        assert text == want, (rid, text)
        return rid, "ok"
    body = {"model": model, "messages": messages, "stream": stream, "max_tokens": 50}
    if kind == "openai-http":
        r = await http.post(gw.openai_base + "/chat/completions", json=body)
        if r.status_code != 200:
            return _clean_error(r, "openai")
        if not stream:
            assert r.json()["choices"][0]["message"]["content"] == want
            return r.headers["x-request-id"], "ok"
        events = check_openai_stream(r.content, include_usage=False, allow_error=True)
        if "error" in events[-1]:
            return r.headers["x-request-id"], "stream-error"
        assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]) == want
        return r.headers["x-request-id"], "ok"
    r = await http.post(gw.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    if r.status_code != 200:
        return _clean_error(r, "anthropic")
    if not stream:
        assert r.json()["content"][0]["text"] == want
        return r.headers["x-request-id"], "ok"
    aevents = check_anthropic_stream(r.content)
    if aevents[-1]["type"] == "error":
        return r.headers["x-request-id"], "stream-error"
    assert "".join(e["delta"].get("text", "") for e in aevents if e["type"] == "content_block_delta") == want
    return r.headers["x-request-id"], "ok"


def _clean_error(r: httpx.Response, api: str) -> tuple[str, str]:
    assert r.status_code in ERROR_STATUSES, (r.status_code, r.text)
    body = orjson.loads(r.content)
    if api == "anthropic":
        assert (
            body["type"] == "error" and body["error"]["type"].endswith("_error") and body["error"]["message"]
        )
    else:
        assert body["error"]["message"] and body["error"]["type"]
    assert "Traceback" not in r.text
    return r.headers["x-request-id"], f"error-{r.status_code}"


async def _wave(gw: GatewayProcess, first: int, n: int) -> list[tuple[str, str]]:
    limits = httpx.Limits(max_connections=n)
    async with (
        httpx.AsyncClient(timeout=30, limits=limits) as http,
        openai.AsyncOpenAI(base_url=gw.openai_base, api_key="k", max_retries=0, timeout=30) as oc,
        anthropic.AsyncAnthropic(base_url=gw.url, api_key="k", max_retries=0, timeout=30) as ac,
    ):
        return await asyncio.gather(*(_one(i, gw, http, oc, ac) for i in range(first, first + n)))


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: this thread may already run a loop (Playwright's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _circuits(gw: GatewayProcess) -> dict[str, dict[str, Any]]:
    data = httpx.get(gw.url + "/v1/deployments").json()["data"]
    return {d["id"]: d["circuit"] for m in data for d in m["deployments"]}


def test_200_concurrent_requests_while_upstreams_fail(
    two: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    a, b = two
    database = f"sqlite:///{tmp_path / 'usage.db'}"
    for seed, up in enumerate(two):
        up.faults(0.3, FAULTS, seed=seed)
    with GatewayProcess(tmp_path, _config(a, b, database)) as gw:
        results = _in_thread(_wave(gw, 0, 200))  # 200 at once, 30% of upstream calls failing
        b.kill()  # mid-run: b's deployments start refusing connections
        try:
            results += _in_thread(_wave(gw, 200, 100))
            opened = _circuits(gw)
            assert opened["gpt-b"]["opened"] >= 1 and opened["claude-b"]["opened"] >= 1
        finally:
            b.revive()
        for up in two:
            up.faults(0, [])
        # Recovery: once a cooldown has passed, a request to the model probes the deployment.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for i, model in enumerate(("gpt", "claude")):
                r = httpx.post(
                    gw.openai_base + "/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": f"question {i}"}]},
                    timeout=30,
                )
                # Everything may still be cooling down for a moment: a clean 503 until then.
                results.append(
                    (r.headers["x-request-id"], "ok") if r.status_code == 200 else _clean_error(r, "openai")
                )
            if all(c["state"] == "closed" for c in _circuits(gw).values()):
                break
            time.sleep(0.1)
        assert all(c["state"] == "closed" for c in _circuits(gw).values()), _circuits(gw)
        assert gw.stop() == 0
        assert "Traceback" not in gw.log()

    outcomes = [o for _, o in results]
    # Most are answered through retries and fallbacks (about 97% here; half is a wide margin).
    assert outcomes.count("ok") >= len(outcomes) / 2, {o: outcomes.count(o) for o in set(outcomes)}
    ids = [rid for rid, _ in results]
    usage = {r["request_id"]: r for r in rows(database, "usage")}
    assert len(ids) == len(set(ids)) == len(usage) and set(usage) == set(ids)  # one row each, no more
    tried: dict[str, list[dict[str, Any]]] = {}
    for t in rows(database, "attempts"):
        tried.setdefault(t["request_id"], []).append(t)
    assert set(tried) <= set(usage)
    for rid, outcome in results:
        row, attempts = usage[rid], sorted(tried.get(rid, []), key=lambda t: t["n"])
        assert [t["n"] for t in attempts] == list(range(1, len(attempts) + 1))
        assert row["status"] != 500
        if outcome == "ok":
            assert row["status"] == 200 and row["error_type"] is None
            assert attempts[-1]["outcome"] == "ok" and attempts[-1]["public_model"] == row["public_model"]
            assert all(t["outcome"] == "error" for t in attempts[:-1])
        elif outcome == "stream-error":
            assert (
                row["status"] == 200 and row["error_type"] is not None and attempts[-1]["outcome"] == "error"
            )
        else:
            assert row["status"] in ERROR_STATUSES and all(t["outcome"] == "error" for t in attempts)
    # The faults really happened, and were survived: some answers needed more than one attempt.
    assert sum(1 for rid, o in results if o == "ok" and len(tried.get(rid, [])) > 1) >= 20
