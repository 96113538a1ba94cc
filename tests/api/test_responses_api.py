"""The OpenAI Responses API served by the gateway over every kind of upstream, called with the
official `openai` SDK and checked against the OpenAI spec: answers, typed stream events, function
tools, structured output, and the requests it refuses. Storage is in test_responses_store.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import BreakStream, FakeUpstream, Reply, ToolReply
from tests.support.gateway import GatewayProcess
from tests.support.responses_stream import check_responses_stream
from tests.support.specs import validate

UPSTREAMS = ["gpt-test", "claude-test", "compat-test", "azure-test"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.openai_base, api_key="client-key", max_retries=0)


def sent(up: FakeUpstream) -> dict[str, Any]:
    body = up.requests[-1].body
    assert body is not None
    return body


def post(gateway: GatewayProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.openai_base + "/responses", json=body, timeout=20)


def collapse(types: list[str]) -> list[str]:
    """Event types with runs of deltas shown once."""
    return [t for i, t in enumerate(types) if not (t.endswith(".delta") and i and types[i - 1] == t)]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_string_input_with_instructions(
    client: openai.OpenAI, up: FakeUpstream, gateway: GatewayProcess, model: str
) -> None:
    up.push(Reply(text="Bonjour le monde", input_tokens=11, output_tokens=4))
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hi", instructions="Be brief.", metadata={"ticket": "T-1"}, store=False
    )
    r = raw.parse()
    assert r.output_text == "Bonjour le monde"
    assert (r.status, r.model, r.instructions, r.metadata) == (
        "completed",
        model,
        "Be brief.",
        {"ticket": "T-1"},
    )
    assert r.id == "resp_" + raw.headers["x-request-id"].removeprefix("req_")
    assert r.output[0].type == "message" and r.output[0].id.startswith("msg_")
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (11, 4, 15)
    assert (r.usage.input_tokens_details.cached_tokens, r.usage.output_tokens_details.reasoning_tokens) == (
        0,
        0,
    )
    validate("openai", "Response", raw.http_response.json(), lenient=False)
    body = sent(up)
    if model == "claude-test":
        assert body["system"] == "Be brief."
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}]
    else:
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hi"},
        ]


def test_items_input_reaches_the_upstream(client: openai.OpenAI, up: FakeUpstream) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    r = client.responses.create(
        model="gpt-test",
        temperature=0.3,
        top_p=0.9,
        max_output_tokens=50,
        user="u-42",
        store=False,
        input=[
            {"role": "developer", "content": "Rules."},
            {"role": "user", "content": "Hello"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},  # accepted and dropped
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": image, "detail": "low"},
                ],
            },
        ],
    )
    assert r.output_text == "Echo: What is this?"
    assert (r.temperature, r.top_p, r.max_output_tokens, r.user) == (0.3, 0.9, 50, "u-42")
    body = sent(up)
    validate("openai", "CreateChatCompletionRequest", body)
    assert body["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        },
    ]
    assert (body["temperature"], body["top_p"], body["max_completion_tokens"], body["user"]) == (
        0.3,
        0.9,
        50,
        "u-42",
    )


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_events_in_order(gateway: GatewayProcess, up: FakeUpstream, model: str) -> None:
    up.push(Reply(text="one two three four", input_tokens=7, output_tokens=4))
    r = post(gateway, {"model": model, "input": "count", "stream": True, "store": False})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = check_responses_stream(r.content)
    assert collapse([e["type"] for e in events]) == [*TEXT_EVENTS, "response.completed"]
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == (
        "one two three four"
    )
    final = events[-1]["response"]
    assert final["usage"]["total_tokens"] == 11 and final["model"] == model
    assert final["id"] == "resp_" + r.headers["x-request-id"].removeprefix("req_")


def test_sdk_stream_assembles_the_text(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Reply(text="alpha beta gamma"))
    with client.responses.stream(model="claude-test", input="go", store=False) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert final.output_text == "alpha beta gamma" and final.status == "completed"
    assert collapse(types) == [*TEXT_EVENTS, "response.completed"]
    # create(stream=True) yields the same typed events.
    events = list(client.responses.create(model="gpt-test", input="again", stream=True, store=False))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "Echo: again"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_function_tool_round_trip(client: openai.OpenAI, up: FakeUpstream, model: str) -> None:
    up.push(ToolReply(name="get_weather", arguments='{"city": "Paris"}'))
    question = {"role": "user", "content": "Weather in Paris?"}
    with client.responses.stream(
        model=model, input=[question], tools=[WEATHER], tool_choice="auto", store=False
    ) as stream:
        types = collapse([e.type for e in stream])
        final = stream.get_final_response()
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    call = final.output[0]
    assert call.type == "function_call" and call.id.startswith("fc_")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert final.tools[0].name == "get_weather"
    tool = sent(up)["tools"][0]
    assert (tool["name"] if model == "claude-test" else tool["function"]["name"]) == "get_weather"
    # The result goes back as a function_call_output; the upstream sees it in its own format.
    up.push(Reply(text="It is sunny."))
    r = client.responses.create(
        model=model,
        tools=[WEATHER],
        store=False,
        input=[
            question,
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24C"},
        ],
    )
    assert r.output_text == "It is sunny."
    body = sent(up)
    if model == "claude-test":
        assert body["messages"][-2]["content"] == [
            {"type": "tool_use", "id": call.call_id, "name": "get_weather", "input": {"city": "Paris"}}
        ]
        result = body["messages"][-1]["content"][0]
        assert (result["type"], result["tool_use_id"]) == ("tool_result", call.call_id)
    else:
        validate("openai", "CreateChatCompletionRequest", body)
        assert body["messages"][-2]["tool_calls"][0]["id"] == call.call_id
        assert body["messages"][-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny, 24C"}


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_text_then_calls_stream_as_successive_items(
    gateway: GatewayProcess, up: FakeUpstream, model: str
) -> None:
    up.push(
        ToolReply(
            name="get_weather",
            arguments='{"city": "Paris"}',
            text="Let me check.",
            more=(("get_weather", '{"city": "Oslo"}'),),
        )
    )
    body = {"model": model, "input": "Paris and Oslo?", "tools": [WEATHER], "stream": True, "store": False}
    events = check_responses_stream(post(gateway, body).content)
    added = [
        (e["output_index"], e["item"]["type"]) for e in events if e["type"] == "response.output_item.added"
    ]
    assert added == [(0, "message"), (1, "function_call"), (2, "function_call")]
    output = events[-1]["response"]["output"]
    assert output[0]["content"][0]["text"] == "Let me check."
    assert [json.loads(o["arguments"])["city"] for o in output[1:]] == ["Paris", "Oslo"]


def test_parallel_calls_are_one_assistant_turn_upstream(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(
        ToolReply(
            name="get_weather", arguments='{"city": "Paris"}', more=(("get_weather", '{"city": "Oslo"}'),)
        )
    )
    r = client.responses.create(model="gpt-test", input="Paris and Oslo?", tools=[WEATHER], store=False)
    calls = [o for o in r.output if o.type == "function_call"]
    assert [json.loads(c.arguments)["city"] for c in calls] == ["Paris", "Oslo"]
    client.responses.create(
        model="gpt-test",
        tools=[WEATHER],
        parallel_tool_calls=False,
        store=False,
        input=[
            {"role": "user", "content": "Paris and Oslo?"},
            *[c.model_dump(exclude_none=True, exclude={"status"}) for c in calls],
            *[{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls],
        ],
    )
    body = sent(up)
    validate("openai", "CreateChatCompletionRequest", body)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "tool"]
    assert len(body["messages"][1]["tool_calls"]) == 2 and body["parallel_tool_calls"] is False


def test_text_format_json_schema(client: openai.OpenAI, up: FakeUpstream) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    up.push(Reply(text='{"city": "Paris"}'))
    r = client.responses.create(
        model="gpt-test",
        input="Where?",
        store=False,
        text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}},
    )
    assert json.loads(r.output_text) == {"city": "Paris"}
    assert r.text.format.type == "json_schema" and r.text.format.name == "place"
    body = sent(up)
    validate("openai", "CreateChatCompletionRequest", body)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": schema, "strict": True},
    }
    client.responses.create(
        model="gpt-test", input="x", store=False, text={"format": {"type": "json_object"}}
    )
    assert sent(up)["response_format"] == {"type": "json_object"}
    client.responses.create(model="gpt-test", input="x", store=False, text={"format": {"type": "text"}})
    assert "response_format" not in sent(up)


def test_max_output_tokens_gives_an_incomplete_response(
    client: openai.OpenAI, gateway: GatewayProcess, up: FakeUpstream
) -> None:
    r = client.responses.create(model="claude-test", input="a b c d e", max_output_tokens=2, store=False)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output[0].status == "incomplete"
    s = post(gateway, {"model": "gpt-test", "input": "a b c d e", "max_output_tokens": 2, "stream": True})
    events = check_responses_stream(s.content, end="response.incomplete")
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_an_error_after_the_stream_began_is_response_failed(
    gateway: GatewayProcess, up: FakeUpstream, model: str
) -> None:
    # Cut after the first text (before it, the gateway retries or answers with an error status).
    up.push(BreakStream(after_chunks=3 if model == "gpt-test" else 5))
    r = post(gateway, {"model": model, "input": "one two three four five", "stream": True})
    events = check_responses_stream(r.content, end="response.failed")
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert failed["store"] is False and "usage" not in failed
    assert failed["output"][0]["content"][0]["text"].startswith("Echo:")
    rid = failed["id"]
    assert httpx.get(f"{gateway.openai_base}/responses/{rid}", timeout=10).status_code == 404


@pytest.mark.parametrize(
    "tool",
    ["web_search", "file_search", "computer_use_preview", "code_interpreter", "image_generation", "mcp"],
)
def test_built_in_tools_are_refused_by_name_except_to_openai(gateway: GatewayProcess, tool: str) -> None:
    """They run inside OpenAI's service: an `openai` model gets them as written (test_responses_native)."""
    r = post(gateway, {"model": "claude-test", "input": "x", "tools": [WEATHER, {"type": tool}]})
    assert r.status_code == 400
    validate("openai", "ErrorResponse", r.json())
    error = r.json()["error"]
    assert error["param"] == "tools[1]" and "tools[1]" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": "x", "tool_choice": {"type": "web_search_preview"}}, "tool_choice.type"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"input": "x", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"input": "x", "metadata": {"k": 1}}, "metadata"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({}, "input"),
    ],
)
def test_invalid_requests_name_the_field(gateway: GatewayProcess, body: dict[str, Any], param: str) -> None:
    r = post(gateway, {"model": "gpt-test", **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_reasoning_reaches_openai_and_is_refused_elsewhere(client: openai.OpenAI, up: FakeUpstream) -> None:
    r = client.responses.create(
        model="gpt-test", input="think", reasoning={"effort": "low", "summary": "auto"}, store=False
    )
    assert r.reasoning.effort == "low" and r.reasoning.summary == "auto"
    body = sent(up)
    assert body["reasoning_effort"] == "low"
    validate("openai", "CreateChatCompletionRequest", body)
    for model in ("claude-test", "compat-test"):
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model=model, input="think", reasoning={"effort": "low"})
        assert e.value.body["param"] == "reasoning" and "reasoning" in e.value.body["message"]
    # Without an effort, a reasoning object asks nothing of the provider.
    client.responses.create(model="claude-test", input="x", reasoning={"summary": "auto"}, store=False)
