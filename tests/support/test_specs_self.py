"""The spec helpers accept the documented golden streams and reject broken copies of them."""

from __future__ import annotations

import json

import pytest

from tests.support.specs import (
    SSEEvent,
    check_anthropic_stream,
    check_openai_stream,
    parse_sse,
    spec,
    validate,
)

# Anthropic streaming docs, verbatim (REFERENCE.md §5.6).
ANTHROPIC_TEXT = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-8", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

"""

ANTHROPIC_TOOL = """\
event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-8","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":":"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"San"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" Francisc"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"o,"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" CA\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"""

# The docs' thinking blocks, wrapped in the message events a real stream has.
ANTHROPIC_THINKING = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-8", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\\n\\n1071 = 2 × 462 + 147"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":10682,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":510,"server_tool_use":{"web_search_requests":1}}}

event: message_stop
data: {"type": "message_stop"}

"""

ANTHROPIC_ERROR_MIDSTREAM = ANTHROPIC_TEXT.split("event: content_block_stop")[0] + (
    'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
)

# NOTES.md §4.1: the OpenAI spec's streaming example with its data:/[DONE] framing.
OPENAI_TEXT = """\
data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

"""

_C = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m"'
OPENAI_TOOL_USAGE = f"""\
data: {{{_C},"choices":[{{"index":0,"delta":{{"role":"assistant","content":null}},"logprobs":null,"finish_reason":null}}],"usage":null}}

data: {{{_C},"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"call_1","type":"function","function":{{"name":"get_weather","arguments":""}}}}]}},"logprobs":null,"finish_reason":null}}],"usage":null}}

data: {{{_C},"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{{\\"location\\":"}}}}]}},"logprobs":null,"finish_reason":null}}],"usage":null}}

data: {{{_C},"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"\\"Paris\\"}}"}}}}]}},"logprobs":null,"finish_reason":null}}],"usage":null}}

data: {{{_C},"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"tool_calls"}}],"usage":null}}

data: {{{_C},"choices":[],"usage":{{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}}}}

data: [DONE]

"""


def _fails(check, raw: str, *fragments: str, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check(raw, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- golden streams pass ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [ANTHROPIC_TEXT, ANTHROPIC_TOOL, ANTHROPIC_THINKING, ANTHROPIC_ERROR_MIDSTREAM]
)
def test_anthropic_golden_streams_pass(raw: str) -> None:
    events = check_anthropic_stream(raw.encode())
    assert events[0]["type"] == "message_start"


def test_anthropic_golden_stream_with_crlf_passes() -> None:
    check_anthropic_stream(ANTHROPIC_TOOL.replace("\n", "\r\n").encode())


def test_openai_golden_streams_pass() -> None:
    chunks = check_openai_stream(OPENAI_TEXT.encode(), include_usage=False)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "Hello", None]
    chunks = check_openai_stream(OPENAI_TOOL_USAGE.encode(), include_usage=True)
    assert chunks[-1]["usage"]["total_tokens"] == 99


def test_openai_spec_own_streaming_example_passes() -> None:
    meta = spec("openai")["paths"]["/chat/completions"]["post"]["x-oaiMeta"]
    example = next(e for e in meta["examples"] if e["title"] == "Streaming")["response"]
    chunks = [c.strip() for c in example.split("\n\n") if c.strip().startswith("{")]
    raw = "".join(f"data: {c}\n\n" for c in chunks) + "data: [DONE]\n\n"
    assert len(check_openai_stream(raw, include_usage=False)) == len(chunks)


def test_openai_error_event_allowed_only_when_asked() -> None:
    head = OPENAI_TEXT.split("\n\n")[0] + "\n\n"
    error = 'data: {"error":{"message":"Overloaded","type":"server_error","param":null,"code":null}}\n\n'
    check_openai_stream(head + error, include_usage=True, allow_error=True)
    check_openai_stream(head + error + "data: [DONE]\n\n", include_usage=False, allow_error=True)
    _fails(check_openai_stream, head + error, "error event", include_usage=False)
    bad = 'data: {"error":{"message":"x"}}\n\n'
    _fails(
        check_openai_stream,
        head + bad,
        "'type' is a required property",
        include_usage=False,
        allow_error=True,
    )


# -- mutated copies fail ----------------------------------------------------------------------


def test_anthropic_dropped_event_line_fails() -> None:
    raw = ANTHROPIC_TEXT.replace("event: content_block_delta\n", "", 1)
    _fails(check_anthropic_stream, raw, "no `event:` line")


def test_anthropic_event_name_mismatch_fails() -> None:
    raw = ANTHROPIC_TEXT.replace("event: content_block_stop", "event: content_block_end")
    _fails(check_anthropic_stream, raw, "does not match data.type")


def test_anthropic_wrong_index_fails() -> None:
    raw = ANTHROPIC_TOOL.replace('"content_block_start","index":1', '"content_block_start","index":2')
    _fails(check_anthropic_stream, raw, "index 2, expected 1", "delta for block 1")


def test_anthropic_delta_type_must_fit_block() -> None:
    raw = ANTHROPIC_TEXT.replace(
        '"type": "text_delta", "text": "!"', '"type": "input_json_delta", "partial_json": "!"'
    )
    _fails(check_anthropic_stream, raw, "input_json_delta does not fit a text block")


def test_anthropic_broken_tool_json_fails() -> None:
    raw = ANTHROPIC_TOOL.replace(' CA\\"}"', ' CA"')
    assert raw != ANTHROPIC_TOOL
    _fails(check_anthropic_stream, raw, "do not form a JSON object")


def test_anthropic_message_delta_inside_block_fails() -> None:
    stop = 'event: content_block_stop\ndata: {"type": "content_block_stop", "index": 0}\n\n'
    raw = ANTHROPIC_TEXT.replace(stop, "").replace("event: message_stop", stop + "event: message_stop")
    _fails(check_anthropic_stream, raw, "message_delta while block 0 is open")


def test_anthropic_missing_stop_and_done_fail() -> None:
    raw = ANTHROPIC_TEXT.split("event: message_stop")[0]
    _fails(check_anthropic_stream, raw, "ends without message_stop")
    _fails(check_anthropic_stream, ANTHROPIC_TEXT + "data: [DONE]\n\n", "[DONE] is not part")


def test_anthropic_schema_violation_fails() -> None:
    raw = ANTHROPIC_TEXT.replace('"output_tokens": 15', '"output_tokens": "15"')
    _fails(check_anthropic_stream, raw, "usage.output_tokens", "is not of type 'integer'")


def test_anthropic_strict_mode_wants_every_required_field() -> None:
    """The docs' compact stream passes the lenient spec only: the strict one wants each nullable
    or defaulted field written out (a text block's citations, the usage's cache fields)."""
    _fails(check_anthropic_stream, ANTHROPIC_TEXT, "'citations' is a required", lenient=False)


def test_anthropic_first_event_must_be_message_start() -> None:
    _, rest = ANTHROPIC_TEXT.split("\n\n", 1)
    _fails(check_anthropic_stream, rest, "before message_start")


def test_openai_missing_done_fails() -> None:
    _fails(check_openai_stream, OPENAI_TEXT.replace("data: [DONE]\n\n", ""), "[DONE]", include_usage=False)


def test_openai_role_repeated_fails() -> None:
    raw = OPENAI_TEXT.replace('"delta":{"content":"Hello"}', '"delta":{"role":"assistant","content":"Hello"}')
    _fails(check_openai_stream, raw, "role repeated", include_usage=False)


def test_openai_tool_name_repeated_fails() -> None:
    raw = OPENAI_TOOL_USAGE.replace(
        '"function":{"arguments":"\\"Paris\\"}"}',
        '"id":"call_1","function":{"name":"get_weather","arguments":"\\"Paris\\"}"}',
    )
    _fails(check_openai_stream, raw, "repeats ['id', 'function.name']", include_usage=True)


def test_openai_event_lines_and_non_json_fail() -> None:
    raw = "event: ping\ndata: \n\n" + OPENAI_TEXT
    _fails(check_openai_stream, raw, "`event: ping`", "not JSON", include_usage=False)


def test_openai_usage_rules() -> None:
    _fails(check_openai_stream, OPENAI_TEXT, "no chunk carries usage", include_usage=True)
    _fails(
        check_openai_stream, OPENAI_TOOL_USAGE, "although include_usage was not asked", include_usage=False
    )


def test_openai_wrong_tool_index_and_finish_fail() -> None:
    raw = OPENAI_TOOL_USAGE.replace('"tool_calls":[{"index":0,"id"', '"tool_calls":[{"index":1,"id"')
    _fails(check_openai_stream, raw, "tool call index 1, expected 0", include_usage=True)
    raw = OPENAI_TEXT.replace('"finish_reason":"stop"', '"finish_reason":null')
    _fails(check_openai_stream, raw, "never got a finish_reason", include_usage=False)


def test_missing_final_blank_line_fails() -> None:
    _fails(check_openai_stream, OPENAI_TEXT.rstrip("\n"), "blank line", include_usage=False)


# -- parse_sse and validate -------------------------------------------------------------------


def test_parse_sse_field_rules() -> None:
    raw = b": comment\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata:  spaced\n\nevent: only\n\ndata: cut"
    assert parse_sse(raw) == [SSEEvent("a", "one\ntwo"), SSEEvent(None, " spaced"), SSEEvent("only", "")]
    assert parse_sse(b"data: x\r\rdata: y\r\r") == [SSEEvent(None, "x"), SSEEvent(None, "y")]


def test_validate_reports_every_problem() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}], "n": 2}
    with pytest.raises(AssertionError) as info:
        validate("anthropic", "CreateMessageParams", body)
    assert "'n' was unexpected" in str(info.value)
    assert "$.messages[0].role" in str(info.value)


def test_lenient_accepts_compact_anthropic_message() -> None:
    message = json.loads(
        '{"content": [{"citations": null, "text": "Hi! My name is Claude.", "type": "text"}],'
        ' "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "model": "claude-opus-4-6", "role": "assistant",'
        ' "stop_details": null, "stop_reason": "end_turn", "stop_sequence": null, "type": "message",'
        ' "usage": {"input_tokens": 2095, "output_tokens": 503}}'
    )
    validate("anthropic", "Message", message, lenient=True)
    with pytest.raises(AssertionError, match="'container' is a required property"):
        validate("anthropic", "Message", message)
    with pytest.raises(AssertionError, match="'type' is a required property"):
        validate("anthropic", "Message", {**message, "content": [{"text": "x"}]}, lenient=True)


def test_nullable_and_discriminator_transforms() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    validate("openai", "CreateChatCompletionStreamResponse", chunk)
    call = {"id": "c", "type": "fnction", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    with pytest.raises(AssertionError, match=r"tool_calls\[0\]\.type: 'fnction' is not one of"):
        validate("openai", "ChatCompletionResponseMessage", message)
    validate(
        "openai", "ChatCompletionResponseMessage", {**message, "tool_calls": [{**call, "type": "function"}]}
    )


def test_base64_embedding_allowed() -> None:
    validate("openai", "Embedding", {"object": "embedding", "index": 0, "embedding": "AACAPw=="})
    validate("openai", "Embedding", {"object": "embedding", "index": 0, "embedding": [0.5]})
