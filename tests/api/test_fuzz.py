"""Mutated requests never break the gateway: each answer is a success or a clean error in the
caller's own format (never a 500, never a trace), and the gateway keeps serving afterwards.

Each case starts from a valid body (both APIs, every translation direction, streaming or not) and
changes one to three places in it: a value swapped for a value of another type or an extreme one,
a key dropped, or an unknown key added. The seed is fixed, so a failure replays exactly."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import (
    FakeUpstream,
    Raw,
    _anthropic_events,
    _anthropic_json,
    _openai_events,
    _openai_json,
    _Plan,
)
from tests.support.gateway import GatewayProcess
from tests.support.specs import validate

CASES = 300  # per test case; raise locally for a longer search

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, -1e308, 1e308, 2**63, "", "x", "\u0000", "\ud7ff\uffff", "é" * 3000,
    [], [None], [{}], {}, {"type": "text"}, {"type": "image_url"}, {"type": "tool_use"}, [[]],
    {"role": "user"}, {"role": "tool", "content": None}, [{"type": "text", "text": 1}],
]  # fmt: skip

USER = [{"role": "user", "content": "hello there"}]
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "d", "parameters": {"type": "object", "properties": {}}},
}
ATOOL = {"name": "lookup", "description": "d", "input_schema": {"type": "object", "properties": {}}}

OPENAI_BODIES = [
    {"model": "gpt-test", "messages": USER, "max_tokens": 5},
    {"model": "gpt-test", "messages": USER, "stream": True, "stream_options": {"include_usage": True}},
    {"model": "claude-test", "messages": [{"role": "system", "content": "be brief"}, *USER], "max_tokens": 5},
    {"model": "claude-test", "messages": USER, "stream": True, "tools": [TOOL], "tool_choice": "auto"},
    {"model": "compat-test", "messages": [*USER, {"role": "assistant", "content": "hi"}, *USER], "stop": ["x"]},
    {"model": "gpt-test", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
     "temperature": 0.5, "n": 1, "seed": 3, "response_format": {"type": "text"}},
]  # fmt: skip
ANTHROPIC_BODIES = [
    {"model": "claude-test", "max_tokens": 5, "messages": USER},
    {"model": "claude-test", "max_tokens": 5, "messages": USER, "stream": True, "system": "be brief"},
    {"model": "gpt-test", "max_tokens": 5, "messages": USER, "tools": [ATOOL], "tool_choice": {"type": "auto"}},
    {"model": "gpt-test", "max_tokens": 5, "stream": True,
     "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "stop_sequences": ["x"]},
]  # fmt: skip
EMBEDDING_BODIES = [
    {"model": "gpt-test", "input": "hello"},
    {"model": "gpt-test", "input": ["a", "b"], "encoding_format": "float"},
]
FEEDBACK_BODIES = [
    {"request_id": "chatcmpl-req_0", "rating": "up", "user": "u1"},
    {"request_id": "msg_req_0", "score": 4, "comment": "fine", "category": "code"},
]
BATTLE_BODIES = [{"prompt": "hello", "user": "u1"}, {"messages": USER, "category": "chat"}]
RTOOL = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {}},
    "strict": False,
}
RESPONSES_BODIES = [
    {"model": "gpt-test", "input": "hello", "instructions": "be brief", "max_output_tokens": 5},
    {"model": "claude-test", "input": USER, "stream": True, "tools": [RTOOL], "tool_choice": "auto",
     "metadata": {"k": "v"}, "store": False},
    {"model": "compat-test", "store": False, "text": {"format": {"type": "json_schema", "name": "x",
     "schema": {"type": "object"}}}, "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,AA=="}]},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"}]},
    {"model": "gpt-test", "input": "x", "previous_response_id": "resp_0", "reasoning": {"effort": "low"}},
]  # fmt: skip


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (the root included)."""
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _places(v, (*path, i))
    return found


def _mutate(body: dict[str, Any], rng: random.Random) -> Any:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        places = [p for p in _places(body) if p]
        if not places:
            break
        path = rng.choice(places)
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        leaf, roll = path[-1], rng.random()
        if roll < 0.6:
            parent[leaf] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif roll < 0.8:
            del parent[leaf]
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "type", "role", "content", "name", "id"])] = rng.choice(ODD_VALUES)
        else:
            parent.append(copy.deepcopy(rng.choice(ODD_VALUES)))
    return body


def _check(r: httpx.Response, api: str, sent: Any) -> None:
    where = f"{r.status_code} for {json.dumps(sent)[:600]}"
    assert r.status_code < 500 or r.status_code in (502, 503, 504, 529), where
    assert "Traceback" not in r.text and "internal error" not in r.text, where
    if r.status_code >= 400:
        validate(api, "ErrorResponse", r.json())
    elif r.headers.get("content-type", "").startswith("text/event-stream"):
        assert r.text.strip(), where
    else:
        assert isinstance(r.json(), dict), where


@pytest.mark.parametrize(
    ("path", "api", "bases"),
    [
        ("/v1/chat/completions", "openai", OPENAI_BODIES),
        ("/v1/messages", "anthropic", ANTHROPIC_BODIES),
        ("/v1/embeddings", "openai", EMBEDDING_BODIES),
        ("/v1/feedback", "openai", FEEDBACK_BODIES),
        ("/v1/arena/battles", "openai", BATTLE_BODIES),
        ("/v1/responses", "openai", RESPONSES_BODIES),
    ],
)
def test_mutated_requests_get_clean_answers(gateway: GatewayProcess, path: str, api: str,
                                            bases: list[dict[str, Any]]) -> None:  # fmt: skip
    rng = random.Random(f"{path}-7")
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        for i in range(CASES):
            body = (
                _mutate(rng.choice(bases), rng) if i % 10 else rng.choice(ODD_VALUES)
            )  # 1 in 10: not an object
            r = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
            _check(r, api, body)
        assert client.get("/health").status_code == 200


def _mutate_stream(events: list[str], rng: random.Random) -> str:
    """One SSE event's JSON data mutated; the framing (and `[DONE]`) left as it was."""
    i = rng.randrange(len(events))
    lines = events[i].rstrip("\n").split("\n")
    for j, line in enumerate(lines):
        if line.startswith("data: {"):
            odd = rng.random() < 0.1
            lines[j] = "data: " + json.dumps(
                rng.choice(ODD_VALUES) if odd else _mutate(json.loads(line[6:]), rng)
            )
    return "".join([*events[:i], "\n".join(lines) + "\n\n", *events[i + 1 :]])


def test_mutated_upstream_answers_are_502_or_clean(gateway: GatewayProcess, up: FakeUpstream) -> None:
    """An upstream answer of the right framing but wrong shape (a value of another type, a key
    missing) is the upstream's fault: 502 or an error event, in the caller's format, never a 500."""
    rng = random.Random("upstream-7")
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        for _ in range(CASES):
            upstream, caller, stream = (
                rng.choice(["openai", "anthropic"]),
                rng.choice(["openai", "anthropic"]),
                rng.random() < 0.5,
            )
            tools = [("call_1", "lookup", '{"a": 1}')] if rng.random() < 0.4 else []
            plan = _Plan("hello there friend", tools, "tool_calls" if tools else "stop", None, 5, 3)
            if stream:
                events = (
                    _anthropic_events(plan, "m")
                    if upstream == "anthropic"
                    else _openai_events(plan, "m", True)
                )
                up.push(Raw(_mutate_stream(events, rng), content_type="text/event-stream"))
            else:
                answer = _anthropic_json(plan, "m") if upstream == "anthropic" else _openai_json(plan, "m")
                up.push(Raw(json.dumps(_mutate(answer, rng))))
            model = "gpt-test" if upstream == "openai" else "claude-test"
            if caller == "openai":
                r = client.post(
                    "/v1/chat/completions", json={"model": model, "messages": USER, "stream": stream}
                )
            else:
                r = client.post(
                    "/v1/messages",
                    json={"model": model, "max_tokens": 20, "messages": USER, "stream": stream},
                )
            assert up.queued == 0
            _check(r, caller, {"upstream": upstream, "stream": stream})


PLAN = _Plan("hello there", [], "stop", None, 5, 3)
WRONG_ANSWERS = [  # found by the searches above; each was a 500 once
    ("gpt-test", Raw(json.dumps({**_openai_json(PLAN, "m"), "usage": {"prompt_tokens": "x"}}))),
    ("gpt-test", Raw(json.dumps({**_openai_json(PLAN, "m"), "usage": {"prompt_tokens": 1e308}}))),
    ("gpt-test", Raw(json.dumps({**_openai_json(PLAN, "m"), "choices": {"0": {}}}))),
    (
        "claude-test",
        Raw(json.dumps({**_anthropic_json(PLAN, "m"), "content": [{"type": "text", "text": {"a": 1}}]})),
    ),
    ("claude-test", Raw(json.dumps({**_anthropic_json(PLAN, "m"), "stop_reason": ["end_turn"]}))),
]


@pytest.mark.parametrize(("model", "answer"), WRONG_ANSWERS)
def test_answer_of_wrong_types_is_502(
    gateway: GatewayProcess, up: FakeUpstream, model: str, answer: Raw
) -> None:
    for caller, path, body in [
        ("openai", "/v1/chat/completions", {"model": model, "messages": USER}),
        ("anthropic", "/v1/messages", {"model": model, "max_tokens": 9, "messages": USER}),
    ]:
        up.push(answer)
        r = httpx.post(gateway.url + path, json=body, timeout=20)
        assert r.status_code == 502 and "malformed" in r.text, r.text
        validate(caller, "ErrorResponse", r.json())


@pytest.mark.parametrize("role", [{}, ["user"], 1, None])
def test_role_of_wrong_type_is_400(gateway: GatewayProcess, role: Any) -> None:
    body = {"model": "gpt-test", "messages": [{"role": role, "content": "hi"}]}
    r = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=20)
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].role", r.text


def test_mutated_embedding_answers_are_502_or_clean(gateway: GatewayProcess, up: FakeUpstream) -> None:
    rng = random.Random("embeddings-7")
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        for _ in range(CASES // 3):
            fmt = rng.choice(["base64", "float"])
            answer = up._embeddings({"model": "m", "input": ["a b", "c"], "encoding_format": fmt})
            up.push(Raw(json.dumps(_mutate(answer, rng))))
            r = client.post("/v1/embeddings", json={"model": "gpt-test", "input": ["a b", "c"]})
            assert up.queued == 0
            _check(r, "openai", {"embeddings": fmt})
