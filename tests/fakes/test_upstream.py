"""The fake upstream speaks the real protocols: spec validators and the official SDKs accept it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aiohttp
import anthropic
import httpx2
import openai
import pytest

from tests.fakes.upstream import (
    BreakStream,
    Fail,
    FakeUpstream,
    Hang,
    Malformed,
    Raw,
    Reply,
    StreamError,
    ToolReply,
    closed_port_url,
    embedding_for,
)
from tests.support.specs import check_anthropic_stream, check_openai_stream, validate

WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=("gpt-test", "gpt-other")) as server:
        yield server


@pytest.fixture
def oai(up: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=up.openai_base, api_key="x", max_retries=0)


@pytest.fixture
def claude(up: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=up.anthropic_base, api_key="x", max_retries=0)


def post(up: FakeUpstream, path: str, body: dict, **headers: str) -> httpx2.Response:
    return httpx2.post(up.url + path, json=body, headers=headers, timeout=10)


# -- OpenAI chat -------------------------------------------------------------------------------


def test_openai_plain_echo(up: FakeUpstream, oai: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *USER]
    raw = oai.chat.completions.with_raw_response.create(model="gpt-test", messages=messages)
    validate("openai", "CreateChatCompletionResponse", raw.http_response.json())
    assert raw.headers["x-request-id"].startswith("req_")
    completion = raw.parse()
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-test"
    assert completion.choices[0].message.content == "Echo: Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (4, 3)
    recorded = up.requests[0]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.body == {"model": "gpt-test", "messages": messages}
    assert recorded.headers["authorization"] == "Bearer x"
    assert up.calls == 1


def test_openai_pushed_reply_and_text_parts(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(Reply(text="Hello there", input_tokens=12, output_tokens=3))
    completion = oai.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "Hello there"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "one two"}, {"type": "text", "text": "three"}]}
    ]
    assert (
        oai.chat.completions.create(model="m", messages=parts).choices[0].message.content
        == "Echo: one two three"
    )


def test_openai_max_tokens_and_stop(oai: openai.OpenAI) -> None:
    words = [{"role": "user", "content": "one two three four"}]
    cut = oai.chat.completions.create(model="m", messages=words, max_completion_tokens=3)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("Echo: one two", "length")
    assert cut.usage.completion_tokens == 3
    stopped = oai.chat.completions.create(model="m", messages=words, stop=[" three"], max_tokens=50)
    assert (stopped.choices[0].message.content, stopped.choices[0].finish_reason) == ("Echo: one two", "stop")


def test_openai_stream_include_usage(up: FakeUpstream, oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: Hello there"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 2 + 3
    for include_usage in (True, False):
        body = {"model": "m", "messages": USER, "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        response = post(up, "/v1/chat/completions", body)
        assert response.headers["content-type"].startswith("text/event-stream")
        events = check_openai_stream(response.content, include_usage=include_usage)
        assert len(events) >= 4


DETAILED = Reply(
    "Thought about it.", input_tokens=100, output_tokens=40, cache_read_tokens=60, reasoning_tokens=25
)


def test_openai_cached_and_reasoning_tokens(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(DETAILED, DETAILED)
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=USER)
    validate("openai", "CreateChatCompletionResponse", raw.http_response.json())
    usage = raw.parse().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 40, 140)
    assert usage.prompt_tokens_details.cached_tokens == 60
    assert usage.completion_tokens_details.reasoning_tokens == 25
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    last = check_openai_stream(post(up, "/v1/chat/completions", body).content, include_usage=True)[-1]
    assert last["usage"]["prompt_tokens_details"]["cached_tokens"] == 60
    assert last["usage"]["completion_tokens_details"]["reasoning_tokens"] == 25
    up.push(Reply("x", input_tokens=10, cache_write_tokens=4))
    written = oai.chat.completions.create(model="m", messages=USER).usage
    assert written.prompt_tokens_details.cache_write_tokens == 4


def test_anthropic_cache_read_and_write_tokens(up: FakeUpstream, claude: anthropic.Anthropic) -> None:
    """Anthropic's input_tokens leaves out the cache reads and writes: 100 in all is 30 + 50 + 20."""
    reply = Reply("Cached.", input_tokens=100, output_tokens=7, cache_read_tokens=50, cache_write_tokens=20)
    up.push(reply, reply)
    raw = claude.messages.with_raw_response.create(model="m", max_tokens=100, messages=USER)
    validate("anthropic", "Message", raw.http_response.json())
    usage = raw.parse().usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        30,
        50,
        20,
    )
    assert usage.cache_creation is not None and usage.cache_creation.ephemeral_5m_input_tokens == 20
    assert usage.output_tokens == 7 and usage.output_tokens_details is None
    body = {"model": "m", "max_tokens": 100, "messages": USER, "stream": True}
    events = check_anthropic_stream(post(up, "/v1/messages", body).content)
    start, delta = events[0]["message"]["usage"], events[-2]["usage"]
    for u in (start, delta):  # message_delta's counts are cumulative: the input's again
        assert (u["input_tokens"], u["cache_read_input_tokens"], u["cache_creation_input_tokens"]) == (
            30,
            50,
            20,
        )
    assert delta["output_tokens"] == 7
    up.push(Reply("Hmm.", output_tokens=9, reasoning_tokens=6))
    with claude.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 9
    assert (
        final.usage.output_tokens_details is not None
        and final.usage.output_tokens_details.thinking_tokens == 6
    )


def test_openai_tool_call_stream(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}', text=None))
    with oai.chat.completions.stream(model="m", messages=USER, tools=[WEATHER_OPENAI]) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris"}'
    assert up.requests[0].body["tools"] == [WEATHER_OPENAI]

    up.push(
        ToolReply(name="get_weather", arguments='{"city": "Paris"}', text="Checking", more=(("f", "{}"),))
    )
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    events = check_openai_stream(post(up, "/v1/chat/completions", body).content, include_usage=True)
    names = [
        t["function"].get("name")
        for e in events
        for c in e["choices"]
        for t in c["delta"].get("tool_calls", [])
    ]
    assert [n for n in names if n] == ["get_weather", "f"]


def test_openai_tool_call_plain(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}', id="call_fixed"))
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=USER, tools=[WEATHER_OPENAI])
    validate("openai", "CreateChatCompletionResponse", raw.http_response.json())
    message = raw.parse().choices[0].message
    assert message.content is None
    assert message.tool_calls[0].id == "call_fixed"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}


def test_azure_style_deployment_path(up: FakeUpstream) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=up.azure_endpoint, api_version="2024-10-21", api_key="azure-key", max_retries=0
    )
    completion = client.chat.completions.create(model="my-deployment", messages=USER)
    assert completion.choices[0].message.content == "Echo: Hello there"
    recorded = up.requests[0]
    assert recorded.path == "/openai/deployments/my-deployment/chat/completions"
    assert recorded.query == {"api-version": "2024-10-21"}
    assert recorded.headers["api-key"] == "azure-key"


# -- embeddings and models ---------------------------------------------------------------------


def test_embeddings_default_base64(up: FakeUpstream, oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(model="emb", input=["hello world", "bye"])
    assert up.requests[0].body["encoding_format"] == "base64"
    assert [d.embedding for d in result.data] == [embedding_for("hello world"), embedding_for("bye")]
    assert result.usage.prompt_tokens == 3
    sized = oai.embeddings.create(model="emb", input="hello", dimensions=4)
    assert sized.data[0].embedding == embedding_for("hello", 4)


def test_embeddings_float_validates(up: FakeUpstream) -> None:
    body = post(up, "/v1/embeddings", {"model": "emb", "input": "a b c", "encoding_format": "float"}).json()
    validate("openai", "CreateEmbeddingResponse", body)
    assert body["data"][0]["embedding"] == embedding_for("a b c")
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_embeddings_too_many_dimensions_is_400(up: FakeUpstream) -> None:
    """As from OpenAI; the fake would otherwise build a vector of any size asked for."""
    body = {"model": "emb", "input": "a", "dimensions": 68_626_431_723}
    r = post(up, "/v1/embeddings", body)
    assert r.status_code == 400 and "dimensions" in r.json()["error"]["message"]


def test_models_list(up: FakeUpstream, oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["gpt-test", "gpt-other"]
    validate("openai", "ListModelsResponse", httpx2.get(up.openai_base + "/models").json())


# -- Anthropic messages ------------------------------------------------------------------------


def test_anthropic_create(up: FakeUpstream, claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(
        model="claude-test", max_tokens=100, system="Be brief.", messages=USER
    )
    body = raw.http_response.json()
    validate("anthropic", "Message", body)  # every field, so the strict spec passes too
    assert raw.headers["request-id"].startswith("req_")
    message = raw.parse()
    assert message.id.startswith("msg_") and message.model == "claude-test"
    assert message.content[0].text == "Echo: Hello there"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 3)
    headers = up.requests[0].headers
    assert headers["anthropic-version"]
    assert headers.get("x-api-key") == "x" or headers.get("authorization") == "Bearer x"


def test_anthropic_limits(claude: anthropic.Anthropic) -> None:
    words = [{"role": "user", "content": [{"type": "text", "text": "one two three four"}]}]
    cut = claude.messages.create(model="m", max_tokens=2, messages=words)
    assert (cut.content[0].text, cut.stop_reason) == ("Echo: one", "max_tokens")
    stopped = claude.messages.create(model="m", max_tokens=50, messages=words, stop_sequences=["three"])
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "three")
    assert stopped.content[0].text == "Echo: one two "


def test_anthropic_stream_text(up: FakeUpstream, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Echo: Hello there"
    assert final.usage.output_tokens == 3 and final.stop_reason == "end_turn"
    response = post(up, "/v1/messages", {"model": "m", "max_tokens": 100, "messages": USER, "stream": True})
    events = check_anthropic_stream(response.content)
    assert [e["type"] for e in events][:3] == ["message_start", "content_block_start", "ping"]


def test_anthropic_stream_tool_use(up: FakeUpstream, claude: anthropic.Anthropic) -> None:
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}', text="Let me check."))
    with claude.messages.stream(
        model="m", max_tokens=100, messages=USER, tools=[WEATHER_ANTHROPIC]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    text, tool = final.content
    assert text.text == "Let me check."
    assert tool.type == "tool_use" and tool.id.startswith("toolu_") and tool.name == "get_weather"
    assert tool.input == {"city": "Paris"}
    assert final.usage.output_tokens == 5

    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}', more=(("f", "{}"),)))
    body = {"model": "m", "max_tokens": 100, "messages": USER, "stream": True}
    events = check_anthropic_stream(post(up, "/v1/messages", body).content)
    starts = [e["content_block"]["name"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["get_weather", "f"]
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}'))
    plain = post(up, "/v1/messages", {**body, "stream": False}).json()
    validate("anthropic", "Message", plain)
    assert plain["content"][0]["input"] == {"city": "Paris"}


def test_anthropic_rejects_what_the_api_rejects(up: FakeUpstream) -> None:
    response = post(up, "/v1/messages", {"model": "m", "messages": USER})
    assert response.status_code == 400
    validate("anthropic", "ErrorResponse", response.json())
    assert response.json()["request_id"] == response.headers["request-id"]
    tool_role = {"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}
    assert post(up, "/v1/messages", tool_role).status_code == 400


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (529, openai.InternalServerError),
    ],
)
def test_openai_errors(up: FakeUpstream, oai: openai.OpenAI, status: int, error_class: type) -> None:
    up.push(Fail(status=status, retry_after="2"))
    with pytest.raises(error_class) as info:
        oai.chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.request_id and info.value.request_id.startswith("req_")
    validate("openai", "ErrorResponse", info.value.response.json())


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors(
    up: FakeUpstream, claude: anthropic.Anthropic, status: int, error_class: type, error_type: str
) -> None:
    up.push(Fail(status=status, retry_after="2"))
    with pytest.raises(error_class) as info:
        claude.messages.create(model="m", max_tokens=5, messages=USER)
    assert isinstance(
        info.value, anthropic.InternalServerError if status >= 500 else anthropic.APIStatusError
    )
    body = info.value.response.json()
    validate("anthropic", "ErrorResponse", body)
    assert body["error"]["type"] == error_type
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.request_id == body["request_id"]


def test_sdk_retries_then_succeeds(up: FakeUpstream) -> None:
    up.push(Fail(status=500, headers={"retry-after-ms": "10"}), Fail(status=429, retry_after="0.01"))
    client = openai.OpenAI(base_url=up.openai_base, api_key="x", max_retries=2)
    assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert up.calls == 3


def test_hang_times_out(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(Hang(seconds=30))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).chat.completions.create(model="m", messages=USER)
    assert time.monotonic() - started < 5
    assert up.wait_for_calls(1)


def test_hang_ends_by_closing(up: FakeUpstream) -> None:
    up.push(Hang(seconds=0.2))
    with pytest.raises(httpx2.RemoteProtocolError):
        post(up, "/v1/chat/completions", {"model": "m", "messages": USER})


def test_break_stream(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(BreakStream(after_chunks=2))
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(model="m", messages=USER, stream=True):
            seen.append(chunk.choices[0].delta.content or "")
    assert seen == ["", "Echo:"]
    up.push(BreakStream(after_chunks=2))
    with pytest.raises(httpx2.RemoteProtocolError):
        post(up, "/v1/messages", {"model": "m", "max_tokens": 5, "messages": USER})


def test_malformed(up: FakeUpstream) -> None:
    up.push(Malformed(), Malformed(), Malformed())
    response = post(up, "/v1/chat/completions", {"model": "m", "messages": USER})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)
    broken = post(up, "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}).content
    with pytest.raises(AssertionError, match="not JSON"):
        check_openai_stream(broken, include_usage=False)
    broken = post(
        up, "/v1/messages", {"model": "m", "max_tokens": 5, "messages": USER, "stream": True}
    ).content
    with pytest.raises(AssertionError, match="not JSON"):
        check_anthropic_stream(broken)


def test_stream_error_events(up: FakeUpstream, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    up.push(StreamError(after_chunks=2, error_type="server_error", message="boom"))
    with pytest.raises(openai.APIError, match="boom"):
        list(oai.chat.completions.create(model="m", messages=USER, stream=True))
    up.push(StreamError(after_chunks=3))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        claude.messages.stream(model="m", max_tokens=50, messages=USER) as stream,
    ):
        stream.get_final_message()
    assert info.value.body["error"]["type"] == "overloaded_error"
    up.push(StreamError(after_chunks=2), StreamError(after_chunks=3))
    raw = post(up, "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}).content
    check_openai_stream(raw, include_usage=False, allow_error=True)
    raw = post(up, "/v1/messages", {"model": "m", "max_tokens": 5, "messages": USER, "stream": True}).content
    assert check_anthropic_stream(raw)[-1]["type"] == "error"


def test_raw_reply(up: FakeUpstream, oai: openai.OpenAI) -> None:
    up.push(
        Raw(
            body='{"object": "list", "data": [{"id": "x", "object": "model", "created": 1, "owned_by": "o"}]}'
        )
    )
    assert [m.id for m in oai.models.list()] == ["x"]


def test_api_key_enforced() -> None:
    with FakeUpstream(api_key="sk-right") as up:
        wrong = openai.OpenAI(base_url=up.openai_base, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="m", messages=USER)
        right = openai.OpenAI(base_url=up.openai_base, api_key="sk-right", max_retries=0)
        assert right.chat.completions.create(model="m", messages=USER).choices
        claude = anthropic.Anthropic(base_url=up.anthropic_base, api_key="sk-right", max_retries=0)
        assert claude.messages.create(model="m", max_tokens=5, messages=USER).content
        response = post(
            up, "/v1/messages", {"model": "m", "max_tokens": 5, "messages": USER}, **{"x-api-key": "no"}
        )
        assert response.status_code == 401
        validate("anthropic", "ErrorResponse", response.json())


def test_closed_port_refuses() -> None:
    client = openai.OpenAI(base_url=closed_port_url() + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)


def test_client_disconnect_is_counted(up: FakeUpstream) -> None:
    up.push(Reply(text=" ".join(["word"] * 40), chunk_delay=0.02))
    with httpx2.stream(
        "POST", up.url + "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
    ) as r:
        next(r.iter_bytes())
    deadline = time.monotonic() + 5
    while up.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert up.disconnects == 1


def test_many_concurrent_connections(up: FakeUpstream) -> None:
    async def run() -> list[bytes]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> bytes:
                body = {
                    "model": "m",
                    "messages": [{"role": "user", "content": f"n {i}"}],
                    "stream": i % 2 == 0,
                }
                async with session.post(up.openai_base + "/chat/completions", json=body) as response:
                    assert response.status == 200
                    return await response.read()

            return await asyncio.gather(*(one(i) for i in range(250)))

    results = asyncio.run(run())
    assert up.calls == 250
    for i, raw in enumerate(results):
        if i % 2 == 0:
            chunks = check_openai_stream(raw, include_usage=False)
            assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == f"Echo: n {i}"
        else:
            assert json.loads(raw)["choices"][0]["message"]["content"] == f"Echo: n {i}"


def test_responses_json_and_stream_as_the_sdk_reads_them(up: FakeUpstream) -> None:
    """POST /v1/responses: what OpenAI's Responses API answers, read by the official SDK."""
    client = openai.OpenAI(base_url=up.openai_base, api_key="k", max_retries=0)
    up.push(Reply("Hello there"))
    raw = client.responses.with_raw_response.create(model="gpt-5", input="Say hi", instructions="Be kind.")
    validate("openai", "Response", raw.http_response.json(), lenient=True)
    r = raw.parse()
    assert r.output_text == "Hello there" and r.status == "completed" and r.usage is not None
    assert r.usage.input_tokens == 4  # words of the input and instructions
    up.push(ToolReply(name="lookup", arguments='{"q": "weather in Paris"}'))
    with client.responses.stream(model="gpt-5", input=[{"role": "user", "content": "Weather?"}]) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed"
    call = final.output[0]
    assert (
        call.type == "function_call"
        and call.name == "lookup"
        and call.arguments == '{"q": "weather in Paris"}'
    )
    up.push(Reply("one two three four five"))
    r = client.responses.create(model="gpt-5", input="x", max_output_tokens=2)
    assert r.status == "incomplete" and r.incomplete_details is not None and r.output_text == "one two"
