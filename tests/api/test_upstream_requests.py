"""What the gateway sends upstream: bodies valid against each provider's official spec (strict
request schemas), the right auth and version headers, and no client headers leaking through."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.gateway import GatewayProcess
from tests.support.specs import validate

OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up a word",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    },
}
ANTHROPIC_TOOL = {
    "name": "lookup",
    "description": "Look up a word",
    "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}},
}


def _conversations(client_api: str) -> list[dict]:
    """Requests that exercise every message kind, in the client's own format."""
    if client_api == "openai":
        return [
            {
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
                "temperature": 0.5,
                "max_tokens": 20,
                "stop": ["\n\n"],
                "user": "end-user-1",
            },
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "see"},
                            {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}},
                        ],
                    }
                ]
            },
            {
                "tools": [OPENAI_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "lookup"}},
                "parallel_tool_calls": False,
                "messages": [
                    {"role": "user", "content": "define cat"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"word":"cat"}'},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "a small feline"},
                ],
            },
        ]
    return [
        # temperature is deprecated in the SDK 2.x signature but still on the wire: send it raw.
        {
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "hi"}],
            "extra_body": {"temperature": 0.5, "top_k": 5},
            "stop_sequences": ["\n\n"],
            "metadata": {"user_id": "end-user-1"},
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                        },
                    ],
                }
            ]
        },
        {
            "tools": [ANTHROPIC_TOOL],
            "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": "define cat"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Looking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"word": "cat"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a small feline"},
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
        },
    ]


def _call(gateway: GatewayProcess, client_api: str, model: str, req: dict, stream: bool) -> None:
    if client_api == "openai":
        oc = openai.OpenAI(
            base_url=gateway.openai_base,
            api_key="client-key",
            max_retries=0,
            default_headers={"x-client-secret-header": "leak-me-not"},
        )
        r = oc.chat.completions.create(model=model, stream=stream, **req)
        if stream:
            list(r)
    else:
        ac = anthropic.Anthropic(
            base_url=gateway.url,
            api_key="client-key",
            max_retries=0,
            default_headers={"x-client-secret-header": "leak-me-not"},
        )
        if stream:
            with ac.messages.stream(model=model, max_tokens=30, **req) as s:
                s.get_final_message()
        else:
            ac.messages.create(model=model, max_tokens=30, **req)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client_api", ["openai", "anthropic"])
@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_upstream_requests_match_the_spec(
    gateway: GatewayProcess, up: FakeUpstream, client_api: str, model: str, stream: bool
) -> None:
    for req in _conversations(client_api):
        up.push(Reply(text="ok"))
        _call(gateway, client_api, model, req, stream)
        rec = up.requests[-1]
        assert rec.body is not None
        assert not any(h.startswith("x-stainless") or h == "x-client-secret-header" for h in rec.headers)
        assert "client-key" not in str(rec.headers)
        assert rec.body.get("stream", False) is stream
        if model == "gpt-test":
            assert rec.path == "/v1/chat/completions"
            assert rec.headers["authorization"] == f"Bearer {OPENAI_KEY}"
            validate("openai", "CreateChatCompletionRequest", rec.body)
            if stream:  # the gateway always asks for usage: the usage log needs the counts
                assert rec.body["stream_options"] == {"include_usage": True}
        else:
            assert rec.path == "/v1/messages"
            assert (
                rec.headers["x-api-key"] == ANTHROPIC_KEY and rec.headers["anthropic-version"] == "2023-06-01"
            )
            validate("anthropic", "CreateMessageParams", rec.body)  # strict: additionalProperties false


def test_tool_choice_translation_to_anthropic(gateway: GatewayProcess, up: FakeUpstream) -> None:
    up.push(ToolReply(name="lookup", arguments='{"word":"dog"}'))
    _call(gateway, "openai", "claude-test", _conversations("openai")[2], stream=False)
    body = up.requests[-1].body
    assert body is not None
    assert body["tool_choice"] == {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True}
    assert body["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "lookup",
        "input": {"word": "cat"},
    }
    assert body["messages"][2]["content"][0]["type"] == "tool_result"


def test_compatible_server_gets_max_tokens(gateway: GatewayProcess, up: FakeUpstream) -> None:
    _call(gateway, "anthropic", "compat-test", {"messages": [{"role": "user", "content": "x"}]}, stream=False)
    body = up.requests[-1].body
    assert body is not None and body["max_tokens"] == 30 and "max_completion_tokens" not in body
    assert "authorization" not in up.requests[-1].headers  # no key configured, none sent
