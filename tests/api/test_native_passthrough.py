"""Same format, lossless; across formats, mapped or refused.

A request to an upstream that speaks the client's own API is sent as the client wrote it (only the
model swapped), with its betas, and the upstream's own answer comes back (ids and model made the
gateway's), so prompt caching, thinking with its signatures, logprobs and every other field the
canonical types do not model survive. To an upstream of another API, such a field is a 400 naming
it, never quietly dropped."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.upstream import FakeUpstream, Raw
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_anthropic_stream, check_openai_stream

CACHED = {"type": "ephemeral"}
# What Claude Code sends, in shape: cache markers on system, tools and a message block, thinking,
# context management, a system message inside `messages`, a document block.
CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": "claude-test",
    "max_tokens": 2048,
    "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": CACHED}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Read this.", "cache_control": CACHED},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Earlier thought.", "signature": "sig-earlier"},
                {"type": "text", "text": "Read."},
            ],
        },
        {"role": "system", "content": "Keep answers short."},
        {"role": "user", "content": "Now summarise."},
    ],
    "tools": [
        {"name": "bash", "description": "run", "input_schema": {"type": "object"}, "cache_control": CACHED}
    ],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "metadata": {"user_id": "u-1"},
}
THINKING_ANSWER = {
    "id": "msg_upstream",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig-123"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Short summary."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 30, "cache_read_input_tokens": 100},
    "context_management": {"applied_edits": []},
}


def _sse(events: list[dict[str, Any]]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


THINKING_STREAM = [
    {"type": "message_start", "message": THINKING_ANSWER | {"content": [], "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-123"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Short summary."}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 30}},
    {"type": "message_stop"},
]  # fmt: skip


def _post(gw: GatewayProcess, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(gw.url + path, json=body, timeout=30, **kw)


def test_an_anthropic_request_reaches_anthropic_as_written(gateway: GatewayProcess, up: FakeUpstream) -> None:
    up.push(Raw(json.dumps(THINKING_ANSWER)))
    r = _post(gateway, "/v1/messages", CLAUDE_CODE_BODY, headers={"anthropic-beta": "context-management-2025-06-27"},
              params={"beta": "true"})  # fmt: skip
    assert r.status_code == 200, r.text
    sent = up.requests[-1]
    assert sent.body == CLAUDE_CODE_BODY | {"model": "claude-haiku-4-5"}  # every marker, block and field
    assert sent.headers["anthropic-beta"] == "context-management-2025-06-27"
    assert sent.query == {"beta": "true"}
    answer = r.json()
    assert answer["content"] == THINKING_ANSWER["content"]  # thinking and its signature, unchanged
    assert answer["context_management"] == {"applied_edits": []}
    assert answer["model"] == "claude-test" and answer["id"] == f"msg_{r.headers['x-request-id']}"
    # The official SDK reads it, thinking blocks included.
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    up.push(Raw(json.dumps(THINKING_ANSWER)))
    message = client.messages.create(
        **{k: v for k, v in CLAUDE_CODE_BODY.items() if k != "context_management"}
    )
    assert [b.type for b in message.content] == ["thinking", "redacted_thinking", "text"]
    assert message.content[0].signature == "sig-123"  # type: ignore[union-attr]


def test_an_anthropic_stream_comes_back_as_the_upstream_sent_it(
    gateway: GatewayProcess, up: FakeUpstream
) -> None:
    up.push(Raw(_sse(THINKING_STREAM), content_type="text/event-stream"))
    r = _post(gateway, "/v1/messages", CLAUDE_CODE_BODY | {"stream": True})
    assert r.status_code == 200, r.text
    events = check_anthropic_stream(r.text)
    assert up.requests[-1].body == CLAUDE_CODE_BODY | {"stream": True, "model": "claude-haiku-4-5"}
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == [e["delta"] for e in THINKING_STREAM if e["type"] == "content_block_delta"]
    start = events[0]["message"]
    assert start["id"] == f"msg_{r.headers['x-request-id']}" and start["model"] == "claude-test"
    assert [e["type"] for e in events].count("message_stop") == 1 and events[-1]["type"] == "message_stop"
    # The official SDK assembles the thinking block with its signature.
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    up.push(Raw(_sse(THINKING_STREAM), content_type="text/event-stream"))
    body = {k: v for k, v in CLAUDE_CODE_BODY.items() if k != "context_management"}
    with client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature == "sig-123"  # type: ignore[union-attr]
    assert final.usage.output_tokens == 30


OPENAI_EXTRAS: dict[str, Any] = {
    "logprobs": True,
    "top_logprobs": 2,
    "frequency_penalty": 0.5,
    "presence_penalty": 0.1,
    "logit_bias": {"50256": -100},
    "service_tier": "flex",
    "prediction": {"type": "content", "content": "Hello"},
    "parallel_tool_calls": False,
    "metadata": {"team": "search"},
}
LOGPROBS_ANSWER = {
    "id": "chatcmpl-upstream",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_abc",
    "service_tier": "flex",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi", "refusal": None, "annotations": []},
            "logprobs": {"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}], "refusal": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}  # fmt: skip


def test_an_openai_request_reaches_openai_as_written(gateway: GatewayProcess, up: FakeUpstream) -> None:
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 5,
        **OPENAI_EXTRAS,
    }
    up.push(Raw(json.dumps(LOGPROBS_ANSWER)))
    client = openai.OpenAI(base_url=gateway.openai_base, api_key="k", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(**body)
    sent = up.requests[-1].body
    # The model is the upstream's; max_tokens is named as this upstream wants it; nothing else moves.
    expected = {k: v for k, v in body.items() if k != "max_tokens"} | {
        "model": "gpt-4o-mini",
        "max_completion_tokens": 5,
    }
    assert sent == expected
    completion = raw.parse()
    assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}" and completion.model == "gpt-test"
    assert completion.system_fingerprint == "fp_abc" and completion.service_tier == "flex"
    assert (
        completion.choices[0].logprobs is not None
        and completion.choices[0].logprobs.content[0].logprob == -0.1
    )  # type: ignore[index]


@pytest.mark.parametrize("include_usage", [False, True])
def test_an_openai_stream_is_relayed_with_usage_only_when_asked(
    gateway: GatewayProcess, up: FakeUpstream, include_usage: bool
) -> None:
    chunks = [
        {"id": "u", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "system_fingerprint": "fp_x",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "logprobs": None, "finish_reason": None}], "usage": None},
        {"id": "u", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "system_fingerprint": "fp_x",
         "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], "usage": None},
        {"id": "u", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "system_fingerprint": "fp_x",
         "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}},
    ]  # fmt: skip
    up.push(
        Raw(
            "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n",
            content_type="text/event-stream",
        )
    )
    body: dict[str, Any] = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "logprobs": True,
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    r = _post(gateway, "/v1/chat/completions", body)
    assert r.status_code == 200, r.text
    # The gateway asks for usage whatever the client did: its log needs the tokens.
    assert up.requests[-1].body["stream_options"] == {"include_usage": True}
    events = check_openai_stream(r.text, include_usage)
    assert all(
        e["id"] == f"chatcmpl-{r.headers['x-request-id']}" and e["model"] == "gpt-test" for e in events
    )
    assert all(e["system_fingerprint"] == "fp_x" for e in events)
    assert (events[-1].get("usage") or {}).get("total_tokens") == (6 if include_usage else None)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/messages", CLAUDE_CODE_BODY | {"model": "gpt-test"}, "thinking"),
        ("/v1/messages", {"model": "gpt-test", "max_tokens": 5, "messages": CLAUDE_CODE_BODY["messages"]},
         "messages[0].content[1]"),
        ("/v1/messages", {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                          "thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ("/v1/messages", {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                          "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
        ("/v1/chat/completions", {"model": "claude-test", "messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs"),
        ("/v1/chat/completions", {"model": "claude-test", "messages": [{"role": "user", "content": "x"}], "frequency_penalty": 0.5}, "frequency_penalty"),
        ("/v1/chat/completions", {"model": "claude-test", "messages": [{"role": "user", "content": "x"}], "audio": {"voice": "alloy"}}, "audio"),
        ("/v1/chat/completions", {"model": "claude-test", "messages": [{"role": "user", "content": "x"}],
                                  "response_format": {"type": "json_object"}}, "response_format"),
    ],
)  # fmt: skip
def test_a_field_another_api_cannot_take_is_refused_naming_it(
    gateway: GatewayProcess, up: FakeUpstream, path: str, body: dict[str, Any], field: str
) -> None:
    r = _post(gateway, path, body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert field in error["message"]
    if path == "/v1/chat/completions":
        assert error["param"] == field
    assert up.calls == 0  # refused before any upstream call


def test_neutral_values_and_bookkeeping_fields_cross_formats(
    gateway: GatewayProcess, up: FakeUpstream
) -> None:
    body = {"model": "claude-test", "messages": [{"role": "user", "content": "hello"}], "logprobs": False,
            "frequency_penalty": 0, "metadata": {"team": "x"}, "store": False, "service_tier": "auto"}  # fmt: skip
    r = _post(gateway, "/v1/chat/completions", body)
    assert r.status_code == 200, r.text
    sent = up.requests[-1].body or {}
    assert "logprobs" not in sent and "frequency_penalty" not in sent  # the canonical translation
    anthropic_body = {"model": "gpt-test", "max_tokens": 5, "thinking": {"type": "disabled"}, "service_tier": "auto",
                      "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "Be brief."}]}  # fmt: skip
    r = _post(gateway, "/v1/messages", anthropic_body)
    assert r.status_code == 200, r.text
    assert (up.requests[-1].body or {})["messages"][-1] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "x" * 100_000}]}]},
        {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "x" * 100_000}]},
    ],
)  # fmt: skip
def test_an_unknown_block_to_another_api_is_refused_in_a_short_answer(
    gateway: GatewayProcess, up: FakeUpstream, body: dict[str, Any]
) -> None:
    r = _post(gateway, "/v1/messages", body)
    assert r.status_code == 400 and len(r.content) < 1000, r.text[:300]
    assert up.calls == 0
