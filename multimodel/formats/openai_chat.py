"""OpenAI Chat Completions as a client-facing format: request -> canonical, canonical -> response/SSE."""

from __future__ import annotations

import time
from typing import Any

import orjson

from multimodel.errors import GatewayError, echo, invalid
from multimodel.formats import fields as f
from multimodel.types import (
    ChatRequest,
    ChatResult,
    ContentPart,
    Event,
    Finish,
    ImagePart,
    Message,
    NativeChunk,
    NativeRequest,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    Usage,
)

FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "stop_sequence": "stop",
    "content_filter": "content_filter",
}

# OpenAI's ReasoningEffort values, shared by both OpenAI client formats (chat and responses).
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


# What the canonical request models of a chat completion request; any other field passes untouched
# to an OpenAI-speaking upstream and is refused by others (NativeRequest), unless it is neutral.
KNOWN = frozenset(
    {
        "model", "messages", "n", "max_completion_tokens", "max_tokens", "stream", "stream_options",
        "response_format", "temperature", "top_p", "stop", "tools", "tool_choice", "parallel_tool_calls",
        "user", "seed", "reasoning_effort",
    }
)  # fmt: skip
# Fields that cannot change the answer (bookkeeping, latency, billing), or at these values do nothing.
IGNORABLE = frozenset(
    {"metadata", "store", "service_tier", "prediction", "safety_identifier", "prompt_cache_key"}
)
NEUTRAL: dict[str, Any] = {"logprobs": False, "frequency_penalty": 0, "presence_penalty": 0, "logit_bias": {}}


def parse_request(body: dict[str, Any]) -> ChatRequest:
    model = f.req_str(body, "model")
    raw_messages = f.req_list(body, "messages")
    unmodelled = [
        k
        for k in body
        if k not in KNOWN and k not in IGNORABLE and not (k in NEUTRAL and body[k] == NEUTRAL[k])
    ]
    messages = [_parse_message(m, i, unmodelled) for i, m in enumerate(raw_messages)]
    n = f.opt_int(body, "n", lo=1)
    if n is not None and n > 1:
        raise invalid("'n' greater than 1 is not supported", "n")
    max_tokens = f.opt_int(body, "max_completion_tokens", lo=1)
    if max_tokens is None:
        max_tokens = f.opt_int(body, "max_tokens", lo=1)
    stream = bool(f.opt_bool(body, "stream"))
    include_usage = False
    if body.get("stream_options") is not None:
        opts = f.obj(body["stream_options"], "stream_options")
        include_usage = bool(f.opt_bool(opts, "include_usage", where="stream_options."))
    response_format = body.get("response_format")
    if response_format is not None:
        rf = f.obj(response_format, "response_format")
        if rf.get("type") not in ("text", "json_object", "json_schema"):
            raise invalid(
                "'response_format.type' must be one of text, json_object, json_schema", "response_format.type"
            )
    return ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=f.opt_num(body, "temperature", 0.0, 2.0),
        top_p=f.opt_num(body, "top_p", 0.0, 1.0),
        stop=f.stop_list(body.get("stop"), "stop", max_items=4),
        tools=[_parse_tool(t, i) for i, t in enumerate(f.opt_list(body, "tools"))],
        tool_choice=_parse_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        response_format=response_format,
        user=f.opt_str(body, "user"),
        stream=stream,
        include_usage=include_usage,
        seed=f.opt_int(body, "seed"),
        native=NativeRequest("openai", body, unmodelled),
        reasoning_effort=effort(body.get("reasoning_effort"), "reasoning_effort"),
    )


def effort(v: Any, where: str) -> str | None:
    if v is None or v in EFFORTS:
        return v
    raise invalid(f"'{where}' must be one of {', '.join(EFFORTS)}", where)


def _parse_message(m: Any, i: int, unmodelled: list[str]) -> Message:
    where = f"messages[{i}]"
    m = f.obj(m, where)
    raw_role = m.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise invalid(
            f"'{where}.role' must be one of system, developer, user, assistant, tool", f"{where}.role"
        )
    content = _parse_content(m.get("content"), f"{where}.content", role == "user", unmodelled)
    if role == "assistant":
        calls = []
        for j, tc in enumerate(f.opt_list(m, "tool_calls", where=f"{where}.")):
            w = f"{where}.tool_calls[{j}]"
            tc = f.obj(tc, w)
            fn = f.obj(tc.get("function"), f"{w}.function")
            args = fn.get("arguments", "")
            if not isinstance(args, str):
                raise invalid(f"'{w}.function.arguments' must be a JSON string", f"{w}.function.arguments")
            calls.append(
                ToolCall(f.req_str(tc, "id", w + "."), f.req_str(fn, "name", w + ".function."), args)
            )
        return Message("assistant", content, tool_calls=calls)
    if role == "tool":
        return Message("tool", content, tool_call_id=f.req_str(m, "tool_call_id", where + "."))
    if m.get("content") is None:
        raise invalid(f"'{where}.content' is required", f"{where}.content")
    return Message(role, content)  # type: ignore[arg-type]


def _parse_content(v: Any, where: str, allow_images: bool, unmodelled: list[str]) -> list[ContentPart]:
    if v is None:
        return []
    if isinstance(v, str):
        return [TextPart(v)]
    if not isinstance(v, list):
        raise invalid(f"'{where}' must be a string or an array of content parts", where)
    parts: list[ContentPart] = []
    for j, p in enumerate(v):
        w = f"{where}[{j}]"
        p = f.obj(p, w)
        kind = p.get("type")
        if kind == "text":
            parts.append(TextPart(f.opt_str(p, "text", w + ".") or ""))
        elif kind == "image_url" and allow_images:
            img = f.obj(p.get("image_url"), f"{w}.image_url")
            parts.append(ImagePart(f.req_str(img, "url", f"{w}.image_url."), f.opt_str(img, "detail")))
        elif kind == "refusal":
            continue
        elif kind in ("input_audio", "file") and allow_images:
            unmodelled.append(w)  # an OpenAI upstream takes it as sent; no other model can
        else:
            raise invalid(f"'{w}.type' {echo(kind)} is not supported here", f"{w}.type")
    return parts


def _parse_tool(t: Any, i: int) -> Tool:
    w = f"tools[{i}]"
    t = f.obj(t, w)
    if t.get("type", "function") != "function":
        raise invalid(f"'{w}.type' must be 'function'", f"{w}.type")
    fn = f.obj(t.get("function"), f"{w}.function")
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    return Tool(
        f.req_str(fn, "name", f"{w}.function."),
        f.opt_str(fn, "description"),
        f.obj(params, f"{w}.function.parameters"),
    )


def _parse_tool_choice(v: Any, parallel: Any) -> ToolChoice | None:
    par = True if parallel is None else bool(parallel)
    if v is None:
        return None if parallel is None else ToolChoice("auto", parallel=par)
    if v in ("auto", "none", "required"):
        return ToolChoice(v, parallel=par)
    if isinstance(v, dict) and v.get("type") == "function" and isinstance(v.get("function"), dict):
        return ToolChoice(
            "tool", name=f.req_str(v["function"], "name", "tool_choice.function."), parallel=par
        )
    raise invalid(
        "'tool_choice' must be 'none', 'auto', 'required' or {type: function, function: {name}}",
        "tool_choice",
    )


# --- responses -------------------------------------------------------------------


def usage_json(u: Usage) -> dict[str, Any]:
    """CompletionUsage: the cache and reasoning counts are parts of the totals, in its details."""
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def render_response(result: ChatResult, request_id: str, model: str) -> bytes:
    if result.native is not None and result.native.format == "openai":
        return orjson.dumps(result.native.data | {"id": f"chatcmpl-{request_id}", "model": model})
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in result.tool_calls
        ]
    return orjson.dumps(
        {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": FINISH[result.finish.reason],
                }
            ],
            "usage": usage_json(result.usage),
        }
    )


def error_body(err: GatewayError) -> dict[str, Any]:
    return {
        "error": {
            "message": err.message,
            "type": _ERROR_TYPE.get(err.kind, "api_error"),
            "param": err.param,
            "code": err.code or _ERROR_CODE.get(err.kind),
        }
    }


def error_status(err: GatewayError) -> int:
    # OpenAI has no 529: its clients know an overloaded service as 503.
    return 503 if err.status == 529 else err.status


_ERROR_TYPE = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "request_timeout": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "client_disconnected": "invalid_request_error",
    "api_error": "api_error",
    "upstream": "api_error",
    "overloaded": "service_unavailable",
    "shutdown": "service_unavailable",
    "timeout": "timeout",
}
_ERROR_CODE = {
    "authentication": "invalid_api_key",
    "request_timeout": "request_timeout",
    "rate_limit": "rate_limit_exceeded",
    "timeout": "timeout",
}


class StreamEncoder:
    """Canonical events -> `data:` SSE chunks, per the OpenAI streaming contract: role only in the
    first chunk, tool-call id/name once per index, finish chunk, optional usage chunk, [DONE]."""

    def __init__(self, request_id: str, model: str, include_usage: bool, relay: bool = False) -> None:
        self._include_usage = include_usage
        # Relay: the upstream speaks this format and its chunks are passed on (NativeChunk).
        self._relay = relay
        self._ids = {"id": f"chatcmpl-{request_id}", "model": model}
        # Every chunk shares id/object/created/model: pre-render that prefix once.
        head = orjson.dumps(
            {
                "id": f"chatcmpl-{request_id}",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
            }
        )
        self._prefix = b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":'
        self._suffix = (
            b',"logprobs":null,"finish_reason":null}]'
            + (b',"usage":null' if include_usage else b"")
            + b"}\n\n"
        )
        self._head = head[:-1]
        self._finish: Finish = Finish("stop")
        self._usage = Usage()

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        return self._prefix + orjson.dumps(delta) + self._suffix

    def start(self) -> bytes:
        return b"" if self._relay else self._chunk({"role": "assistant", "content": ""})

    def event(self, ev: Event) -> bytes:
        if self._relay:
            return self._relayed(ev) if isinstance(ev, NativeChunk) else b""
        if isinstance(ev, TextDelta):
            return self._chunk({"content": ev.text})
        if isinstance(ev, ToolCallStart):
            return self._chunk(
                {
                    "tool_calls": [
                        {
                            "index": ev.index,
                            "id": ev.id,
                            "type": "function",
                            "function": {"name": ev.name, "arguments": ""},
                        }
                    ]
                }
            )
        if isinstance(ev, ToolCallDelta):
            return self._chunk({"tool_calls": [{"index": ev.index, "function": {"arguments": ev.arguments}}]})
        if isinstance(ev, Usage):
            self._usage = ev
        elif isinstance(ev, Finish):
            self._finish = ev
        return b""

    def _relayed(self, ev: NativeChunk) -> bytes:
        chunk = ev.data
        if not self._include_usage:  # the gateway asked for usage for its log, the client did not
            if chunk.get("usage") and not chunk.get("choices"):
                return b""
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
        return b"data: " + orjson.dumps(chunk | self._ids) + b"\n\n"

    def end(self) -> bytes:
        if self._relay:
            return b"data: [DONE]\n\n"
        usage_null = b',"usage":null' if self._include_usage else b""
        out = (
            self._head
            + b',"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"'
            + FINISH[self._finish.reason].encode()
            + b'"}]'
            + usage_null
            + b"}"
        )
        out = b"data: " + out + b"\n\n"
        if self._include_usage:
            out += (
                b"data: "
                + self._head
                + b',"choices":[],"usage":'
                + orjson.dumps(usage_json(self._usage))
                + b"}\n\n"
            )
        return out + b"data: [DONE]\n\n"

    @staticmethod
    def error(err: GatewayError) -> bytes:
        return b"data: " + orjson.dumps(error_body(err)) + b"\n\n"
