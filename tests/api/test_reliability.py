"""Retries, failover and fallbacks through the real gateway, seen by the official SDKs; the
breaker's state in GET /v1/deployments and `multimodel models`; attempts in the usage log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml

from tests.fakes.upstream import BreakStream, Fail, FakeUpstream
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_anthropic_stream, check_openai_stream

USER = [{"role": "user", "content": "hello"}]
QUICK = {"attempts": 1, "backoff_s": 0.01, "max_backoff_s": 1}


def _models(up: FakeUpstream, flaky: FakeUpstream) -> list[dict[str, Any]]:
    openai_at = {"provider": "openai", "model": "gpt-4o-mini", "timeouts": {"connect": 2, "first_byte": 5}}
    return [
        {
            "name": "primary",
            **openai_at,
            "api_base": up.openai_base,
            "fallbacks": ["backup"],
            "retries": QUICK,
        },
        {
            "name": "backup",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "api_base": up.anthropic_base,
        },
        {
            "name": "pair",
            "breaker": {"failures": 2, "window_s": 60, "cooldown_s": 2},
            "deployments": [
                {"id": "flaky", **openai_at, "api_base": flaky.openai_base, "weight": 1},
                {"id": "steady", **openai_at, "api_base": up.openai_base, "weight": 0},
            ],
        },
    ]


@pytest.fixture(scope="module")
def flaky() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def gw(
    upstream: FakeUpstream, flaky: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("reliability")
    config = {"database": f"sqlite:///{workdir / 'usage.db'}", "models": _models(upstream, flaky)}
    with GatewayProcess(workdir, config) as g:
        yield g


@pytest.fixture
def oc(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base, api_key="k", max_retries=0)


@pytest.fixture
def ac(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)


def test_openai_sdk_gets_the_fallback_answer(oc: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Fail(status=500), Fail(status=503))  # the first try and its one retry
    r = oc.chat.completions.create(model="primary", messages=USER)  # type: ignore[arg-type]
    assert r.choices[0].message.content == "Echo: hello" and r.model == "backup"
    assert [q.path for q in up.requests] == ["/v1/chat/completions"] * 2 + ["/v1/messages"]
    up.reset()
    up.push(Fail(status=529), Fail(status=429, retry_after="0"))
    chunks = list(oc.chat.completions.create(model="primary", messages=USER, stream=True))  # type: ignore[call-overload]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: hello"
    assert {c.model for c in chunks} == {"backup"}


def test_anthropic_sdk_stream_fails_over_before_its_first_content(
    ac: anthropic.Anthropic, up: FakeUpstream
) -> None:
    up.push(BreakStream(after_chunks=1))  # the role chunk only, then the connection drops
    with ac.messages.stream(model="primary", max_tokens=50, messages=USER) as s:  # type: ignore[arg-type]
        message = s.get_final_message()
    assert message.content[0].text == "Echo: hello" and message.model == "primary"  # type: ignore[union-attr]
    assert up.calls == 2


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_stream_broken_after_content_ends_with_an_error_event_and_no_retry(
    gw: GatewayProcess, up: FakeUpstream, api: str
) -> None:
    up.push(BreakStream(after_chunks=3))
    body = {
        "model": "primary",
        "stream": True,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "a b c d e"}],
    }
    if api == "openai":
        r = httpx.post(gw.openai_base + "/chat/completions", json=body, timeout=20)
        events = check_openai_stream(r.content, include_usage=False, allow_error=True)
        assert events[-1]["error"]["type"] == "api_error"
    else:
        r = httpx.post(
            gw.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}, timeout=20
        )
        assert check_anthropic_stream(r.content)[-1]["type"] == "error"
    assert r.status_code == 200 and "Traceback" not in r.text
    time.sleep(0.2)
    assert up.calls == 1  # what reached the client is never asked for (and billed) twice


def _deployments(gw: GatewayProcess) -> dict[str, dict[str, Any]]:
    data = httpx.get(gw.url + "/v1/deployments").json()["data"]
    return {d["id"]: {**d, "model": m["model"]} for m in data for d in m["deployments"]}


def _models_cli(gw: GatewayProcess) -> str:
    assert gw.config_path is not None
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "multimodel.cli",
            "models",
            "--config",
            str(gw.config_path),
            "--gateway",
            gw.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_breaker_state_in_the_api_and_the_cli(
    gw: GatewayProcess, oc: openai.OpenAI, up: FakeUpstream, flaky: FakeUpstream
) -> None:
    flaky.kill()
    try:
        for _ in range(2):  # refused by the flaky deployment, answered by the steady one
            r = oc.chat.completions.create(model="pair", messages=USER)  # type: ignore[arg-type]
            assert r.choices[0].message.content == "Echo: hello"
        state = _deployments(gw)
        assert state["flaky"]["circuit"]["state"] == "open" and state["flaky"]["circuit"]["opened"] == 1
        assert state["steady"]["circuit"]["state"] == "closed" and state["steady"]["in_flight"] == 0
        assert state["primary"]["circuit"] is None and state["primary"]["model"] == "primary"
        lines = {line.split()[0]: line for line in _models_cli(gw).splitlines()}
        # Open, or already ready for its probe when the CLI took long to start.
        assert "circuit open" in lines["flaky"] or "circuit half_open" in lines["flaky"]
        assert "unreachable" in lines["flaky"]
        assert "circuit closed" in lines["steady"] and "2 deployments" in lines["pair"]
    finally:
        flaky.revive()
    time.sleep(2.1)  # the cooldown: the next request is the probe
    before = flaky.calls
    oc.chat.completions.create(model="pair", messages=USER)  # type: ignore[arg-type]
    assert flaky.calls == before + 1
    state = _deployments(gw)["flaky"]
    assert state["circuit"]["state"] == "closed" and state["circuit"]["closed"] == 1
    assert "circuit closed" in {line.split()[0]: line for line in _models_cli(gw).splitlines()}["flaky"]


def test_the_usage_log_links_every_attempt(
    gw: GatewayProcess, oc: openai.OpenAI, up: FakeUpstream, tmp_path: Path
) -> None:
    up.push(Fail(status=500), Fail(status=500))
    raw = oc.chat.completions.with_raw_response.create(model="primary", messages=USER)  # type: ignore[arg-type]
    fell_back = raw.headers["x-request-id"]
    raw = oc.chat.completions.with_raw_response.create(model="primary", messages=USER)  # type: ignore[arg-type]
    direct = raw.headers["x-request-id"]
    up.push(Fail(status=400, message="bad"))
    with pytest.raises(openai.BadRequestError) as e:
        oc.chat.completions.create(model="primary", messages=USER)  # type: ignore[arg-type]
    failed = e.value.response.headers["x-request-id"]
    database = yaml.safe_load(Path(gw.config_path or "").read_text())["database"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the writer batches in the background
        usage = {r["request_id"]: r for r in rows(database, "usage")}
        if {fell_back, direct, failed} <= set(usage):
            break
        time.sleep(0.1)
    tried: dict[str, list[dict[str, Any]]] = {}
    for a in sorted(rows(database, "attempts"), key=lambda a: a["n"]):
        tried.setdefault(a["request_id"], []).append(a)
    assert usage[fell_back]["public_model"] == "backup" and usage[fell_back]["route"] == "primary"
    assert usage[fell_back]["provider"] == "anthropic" and usage[fell_back]["status"] == 200
    assert [
        (a["n"], a["public_model"], a["outcome"], a["status"], a["error_type"]) for a in tried[fell_back]
    ] == [
        (1, "primary", "error", 500, "server_error"),
        (2, "primary", "error", 500, "server_error"),
        (3, "backup", "ok", 200, None),
    ]
    assert usage[direct]["public_model"] == "primary" and usage[direct]["route"] is None
    assert [(a["deployment"], a["provider"], a["outcome"]) for a in tried[direct]] == [
        ("primary", "openai", "ok")
    ]
    assert usage[failed]["status"] == 400
    assert [(a["outcome"], a["status"], a["error_type"]) for a in tried[failed]] == [
        ("error", 400, "invalid_request")
    ]
    assert all(
        a["latency_ms"] > 0 and a["started_at"] >= usage[a["request_id"]]["created_at"]
        for a in tried[fell_back]
    )


def test_embeddings_fail_over_and_fall_back_like_chat(upstream: FakeUpstream, tmp_path: Path) -> None:
    with FakeUpstream() as flaky:
        at = {
            "provider": "openai",
            "model": "text-embedding-3-small",
            "timeouts": {"connect": 2, "first_byte": 5},
        }
        models = [
            {
                "name": "emb",
                "deployments": [
                    {"id": "down", **at, "api_base": flaky.openai_base, "weight": 1},
                    {"id": "up", **at, "api_base": upstream.openai_base, "weight": 0},
                ],
            },
            {"name": "emb-solo", **at, "api_base": flaky.openai_base, "fallbacks": ["emb"]},
        ]
        database = f"sqlite:///{tmp_path / 'usage.db'}"
        with GatewayProcess(tmp_path, {"database": database, "models": models}) as g:
            oc = openai.OpenAI(base_url=g.openai_base, api_key="k", max_retries=0)
            flaky.push(Fail(status=500))
            raw = oc.embeddings.with_raw_response.create(model="emb", input=["one", "two"])
            got = raw.parse()
            assert len(got.data) == 2 and got.model == "emb"
            first = raw.headers["x-request-id"]

            flaky.push(Fail(status=429, retry_after="0"))
            raw = oc.embeddings.with_raw_response.create(model="emb-solo", input="three")
            assert raw.parse().model == "emb"  # the fallback answered, and says so
            second = raw.headers["x-request-id"]
            assert flaky.calls == 3  # emb-solo, then emb's first choice (healthy again)

            flaky.push(Fail(status=400))  # the request's fault: neither retried nor fallen back
            with pytest.raises(openai.BadRequestError):
                oc.embeddings.create(model="emb-solo", input="four")
            g.stop()
        attempts = rows(database, "attempts")
        usage = {r["request_id"]: r for r in rows(database, "usage")}

    def outcomes(request_id: str) -> list[tuple[str, str, str]]:
        mine = sorted((a for a in attempts if a["request_id"] == request_id), key=lambda a: a["n"])
        return [(a["public_model"], a["deployment"], a["outcome"]) for a in mine]

    assert outcomes(first) == [("emb", "down", "error"), ("emb", "up", "ok")]
    assert outcomes(second) == [("emb-solo", "emb-solo", "error"), ("emb", "down", "ok")]
    assert (usage[second]["public_model"], usage[second]["route"]) == ("emb", "emb-solo")
