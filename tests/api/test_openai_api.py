"""The OpenAI API served by the gateway, called with the official `openai` SDK and checked
against the OpenAI spec, over every kind of upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_openai_stream, validate

UPSTREAMS = ["gpt-test", "claude-test", "compat-test", "azure-test"]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.openai_base, api_key="client-key", max_retries=0)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_plain_completion(
    client: openai.OpenAI, up: FakeUpstream, gateway: GatewayProcess, model: str
) -> None:
    up.push(Reply(text="Bonjour le monde", input_tokens=11, output_tokens=4))
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
    )
    r = raw.parse()
    assert r.choices[0].message.content == "Bonjour le monde"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == model
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (11, 4, 15)
    assert raw.headers["x-request-id"].startswith("req_")
    validate("openai", "CreateChatCompletionResponse", raw.http_response.json())


@pytest.mark.parametrize("model", UPSTREAMS)
def test_streaming_with_usage(gateway: GatewayProcess, up: FakeUpstream, model: str) -> None:
    up.push(Reply(text="one two three four", input_tokens=7, output_tokens=4))
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "count"}],
    }
    r = httpx.post(gateway.openai_base + "/chat/completions", json=body, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = check_openai_stream(r.content, include_usage=True)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events if c["choices"])
    assert text == "one two three four"
    usage = events[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (7, 4, 11)


def test_streaming_without_usage_has_no_usage_chunk(gateway: GatewayProcess, up: FakeUpstream) -> None:
    body = {"model": "claude-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(gateway.openai_base + "/chat/completions", json=body, timeout=10)
    events = check_openai_stream(r.content, include_usage=False)
    assert all("usage" not in c or c["usage"] is None for c in events)


def test_sdk_streaming_iterates_text(client: openai.OpenAI, up: FakeUpstream) -> None:
    stream = client.chat.completions.create(
        model="gpt-test", stream=True, messages=[{"role": "user", "content": "stream me"}]
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Echo: stream me"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_call_round_trip(client: openai.OpenAI, up: FakeUpstream, model: str) -> None:
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}'))
    with client.chat.completions.stream(
        model=model,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as s:
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert final.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    # Send the tool result back; the upstream sees it in its own format.
    up.push(Reply(text="It is sunny."))
    r = client.chat.completions.create(
        model=model,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call.model_dump(exclude={"parsed_arguments"})],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"},
        ],
    )
    assert r.choices[0].message.content == "It is sunny."
    sent = up.requests[-1].body
    assert sent is not None
    if model == "claude-test":
        blocks = sent["messages"][-1]["content"]
        assert blocks[0]["type"] == "tool_result" and blocks[0]["tool_use_id"] == call.id
        assert sent["messages"][-2]["content"][0] == {
            "type": "tool_use",
            "id": call.id,
            "name": "get_weather",
            "input": {"city": "Paris"},
        }
    else:
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}


def test_parallel_tool_calls_non_streaming(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(
        ToolReply(
            name="get_weather", arguments='{"city": "Paris"}', more=(("get_weather", '{"city": "Oslo"}'),)
        )
    )
    r = client.chat.completions.create(
        model="claude-test", tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "Paris and Oslo?"}]
    )
    calls = r.choices[0].message.tool_calls
    assert [c.function.arguments for c in calls] == ['{"city":"Paris"}', '{"city":"Oslo"}']
    assert len({c.id for c in calls}) == 2


def test_image_parts_and_params_reach_upstream(client: openai.OpenAI, up: FakeUpstream) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    client.chat.completions.create(
        model="claude-test",
        temperature=0.3,
        top_p=0.9,
        max_tokens=50,
        stop=["END"],
        user="u-42",
        messages=[
            {"role": "developer", "content": "Rules."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            },
        ],
    )
    sent = up.requests[-1].body
    assert sent is not None
    assert sent["system"] == "Rules."
    assert sent["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop_sequences"]) == (
        0.3,
        0.9,
        50,
        ["END"],
    )
    assert sent["metadata"] == {"user_id": "u-42"}


def test_max_completion_tokens_and_response_format(client: openai.OpenAI, up: FakeUpstream) -> None:
    r = client.chat.completions.create(
        model="gpt-test",
        max_completion_tokens=2,
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "a b c d e"}],
    )
    assert r.choices[0].finish_reason == "length"
    sent = up.requests[-1].body
    assert sent is not None
    assert sent["max_completion_tokens"] == 2 and sent["response_format"] == {"type": "json_object"}


def test_stop_sequence(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Reply(text="alpha beta STOP gamma"))
    r = client.chat.completions.create(
        model="claude-test", stop=["STOP"], messages=[{"role": "user", "content": "x"}]
    )
    assert r.choices[0].message.content.strip() == "alpha beta"
    assert r.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(client: openai.OpenAI, up: FakeUpstream, encoding: str) -> None:
    direct = openai.OpenAI(base_url=up.openai_base, api_key="x").embeddings.create(
        model="text-embedding-3-small", input=["hello", "world"], encoding_format="float"
    )
    kwargs = {} if encoding == "base64" else {"encoding_format": "float"}  # the SDK's default is base64
    r = client.embeddings.create(model="compat-test", input=["hello", "world"], **kwargs)  # type: ignore[arg-type]
    assert [d.index for d in r.data] == [0, 1]
    for got, want in zip(r.data, direct.data, strict=True):
        assert got.embedding == pytest.approx(want.embedding, rel=1e-6)
    assert r.usage.prompt_tokens == 2


def test_embeddings_unsupported_for_anthropic(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="claude-test", input="hello")
    assert "embeddings" in e.value.message


def test_models_list_and_get(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[:5] == ["gpt-test", "gpt-responses", "claude-test", "compat-test", "azure-test"]
    assert client.models.retrieve("claude-test").owned_by == "anthropic"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    validate("openai", "ListModelsResponse", httpx.get(gateway.openai_base + "/models").json())


def test_azure_deployment_url_and_key(client: openai.OpenAI, up: FakeUpstream) -> None:
    client.chat.completions.create(model="azure-test", messages=[{"role": "user", "content": "hi"}])
    rec = up.requests[-1]
    assert rec.path == "/openai/deployments/my-deployment/chat/completions"
    assert rec.query == {"api-version": "2024-10-21"}
    assert rec.headers["api-key"] == "sk-test-openai-0123456789abcdef"
    assert "authorization" not in rec.headers


def test_reasoning_effort_reaches_openai_and_is_refused_elsewhere(
    client: openai.OpenAI, up: FakeUpstream
) -> None:
    messages = [{"role": "user", "content": "think"}]
    client.chat.completions.create(model="gpt-test", messages=messages, reasoning_effort="high")
    sent = up.requests[-1].body
    assert sent is not None and sent["reasoning_effort"] == "high"
    validate("openai", "CreateChatCompletionRequest", sent)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="claude-test", messages=messages, reasoning_effort="high")
    assert e.value.body["param"] == "reasoning"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-test", messages=messages, reasoning_effort="lots")  # type: ignore[arg-type]
    assert e.value.body["param"] == "reasoning_effort"
