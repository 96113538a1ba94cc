"""The Anthropic Messages API served by the gateway, called with the official `anthropic` SDK
and checked against Anthropic's spec and stream contract, over every kind of upstream."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_anthropic_stream, validate

UPSTREAMS = ["claude-test", "gpt-test", "compat-test"]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(gateway: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="client-key", max_retries=0)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_plain_message(client: anthropic.Anthropic, up: FakeUpstream, model: str) -> None:
    up.push(Reply(text="Hello from upstream", input_tokens=9, output_tokens=3))
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=100, system="Be kind.", messages=[{"role": "user", "content": "Hi"}]
    )
    m = raw.parse()
    assert [b.type for b in m.content] == ["text"] and m.content[0].text == "Hello from upstream"
    assert m.stop_reason == "end_turn" and m.model == model
    assert (m.usage.input_tokens, m.usage.output_tokens) == (9, 3)
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    validate("anthropic", "Message", raw.http_response.json(), lenient=True)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_streaming_event_sequence(gateway: GatewayProcess, up: FakeUpstream, model: str) -> None:
    up.push(Reply(text="one two three", input_tokens=5, output_tokens=3))
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "count"}],
    }
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}  # what SDKs before 2.0 send
    r = httpx.post(gateway.url + "/v1/messages", json=body, headers=headers, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = check_anthropic_stream(r.content)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "ping" in kinds
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "one two three"
    assert events[-2]["usage"]["output_tokens"] == 3 and events[-2]["usage"]["input_tokens"] == 5


@pytest.mark.parametrize("model", UPSTREAMS)
def test_sdk_stream_final_message(client: anthropic.Anthropic, up: FakeUpstream, model: str) -> None:
    with client.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "stream me"}]
    ) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == "Echo: stream me" == final.content[0].text
    assert final.usage.output_tokens == 3


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_use_round_trip(client: anthropic.Anthropic, up: FakeUpstream, model: str) -> None:
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}', text="Let me check."))
    with client.messages.stream(
        model=model,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    use = final.content[1]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    sent = up.requests[-1].body
    assert sent is not None
    if model == "claude-test":
        assert sent["tool_choice"] == {"type": "any"}
    else:
        assert sent["tool_choice"] == "required"
        assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
    up.push(Reply(text="Sunny."))
    m = client.messages.create(
        model=model,
        max_tokens=100,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
        ],
    )
    assert m.content[0].text == "Sunny."
    sent = up.requests[-1].body
    assert sent is not None
    if model != "claude-test":
        assert sent["messages"][-2]["tool_calls"][0]["id"] == use.id
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": use.id, "content": "sunny"}


def test_stop_sequences(client: anthropic.Anthropic, up: FakeUpstream) -> None:
    up.push(Reply(text="alpha beta HALT gamma"))
    m = client.messages.create(
        model="claude-test",
        max_tokens=50,
        stop_sequences=["HALT"],
        messages=[{"role": "user", "content": "x"}],
    )
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == "HALT"
    assert m.content[0].text.strip() == "alpha beta"


def test_max_tokens_stop_reason(client: anthropic.Anthropic, up: FakeUpstream) -> None:
    m = client.messages.create(
        model="gpt-test", max_tokens=2, messages=[{"role": "user", "content": "a b c d"}]
    )
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 2
    assert up.requests[-1].body["max_completion_tokens"] == 2  # type: ignore[index]


def test_max_tokens_is_required(client: anthropic.Anthropic, gateway: GatewayProcess) -> None:
    r = httpx.post(
        gateway.url + "/v1/messages",
        json={"model": "claude-test", "messages": [{"role": "user", "content": "x"}]},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"] and body["request_id"]
    validate("anthropic", "ErrorResponse", body)


def test_bearer_and_x_api_key_both_accepted(gateway: GatewayProcess, up: FakeUpstream) -> None:
    body = {"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    for headers in (
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        {"authorization": "Bearer k", "anthropic-version": "2026-10-21"},
    ):
        assert httpx.post(gateway.url + "/v1/messages", json=body, headers=headers).status_code == 200
    # The gateway talks to Anthropic with its own key and the documented version, never the client's.
    sent = up.requests[-1].headers
    assert sent["x-api-key"] == "sk-ant-test-0123456789abcdef" and sent["anthropic-version"] == "2023-06-01"


def test_models_list_in_anthropic_shape(client: anthropic.Anthropic) -> None:
    ids = [m.id for m in client.models.list()]
    assert "claude-test" in ids and "gpt-test" in ids


def test_models_and_messages_carry_every_field_the_spec_requires(
    gateway: GatewayProcess, up: FakeUpstream
) -> None:
    """Strictly typed clients refuse an object without a required key, even a null one."""
    r = httpx.get(gateway.url + "/v1/models", headers={"anthropic-version": "2023-06-01"})
    for model in r.json()["data"]:
        validate("anthropic", "ModelInfo", model)  # strict: capabilities, max_input_tokens, max_tokens
    body = {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    message = httpx.post(gateway.url + "/v1/messages", json=body).json()  # the canonical rendering
    assert {"stop_details", "container"} <= message.keys()


@pytest.mark.parametrize("stream", [False, True])
def test_translated_blocks_carry_every_field_the_spec_requires(
    gateway: GatewayProcess, up: FakeUpstream, stream: bool
) -> None:
    """A text block's citations and a tool_use block's caller, streamed or not (found by
    schemathesis: the strict spec requires both, as strictly typed clients do)."""
    up.push(ToolReply("get_weather", '{"city": "Paris"}', text="Let me look."))
    body = {"model": "gpt-test", "max_tokens": 50, "stream": stream, "tools": [WEATHER_TOOL],
            "messages": [{"role": "user", "content": "Weather in Paris?"}]}  # fmt: skip
    r = httpx.post(gateway.url + "/v1/messages", json=body, timeout=20)
    if not stream:
        validate("anthropic", "Message", r.json())  # strict
        return
    events = check_anthropic_stream(r.content, lenient=False)
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == [
        "text",
        "tool_use",
    ]
