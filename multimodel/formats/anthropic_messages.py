"""Anthropic Messages as a client-facing format: request -> canonical, canonical -> response/SSE."""

from __future__ import annotations

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

STOP_REASON = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "stop_sequence": "stop_sequence",
    "content_filter": "refusal",
}


# What the canonical request models of a Messages request; any other field passes untouched to an
# Anthropic upstream (thinking, context_management, container, mcp_servers, output_config, ...)
# and is refused by others (NativeRequest), unless it cannot change the answer.
KNOWN = frozenset(
    {
        "model", "max_tokens", "system", "messages", "metadata", "temperature", "top_p", "top_k",
        "stop_sequences", "tools", "tool_choice", "stream",
    }
)  # fmt: skip
IGNORABLE = frozenset({"service_tier", "inference_geo"})
# Reasoning traces of earlier turns: an Anthropic upstream gets them back as they were (with their
# signatures); another model cannot read them, and an answer does not depend on them.
_TRACES = ("thinking", "redacted_thinking")


def parse_request(body: dict[str, Any]) -> ChatRequest:
    model = f.req_str(body, "model")
    max_tokens = f.opt_int(body, "max_tokens", lo=1)
    if max_tokens is None:
        raise invalid("max_tokens: Field required", "max_tokens")
    unmodelled = [k for k in body if k not in KNOWN and k not in IGNORABLE and not _neutral(k, body[k])]
    messages: list[Message] = []
    system = body.get("system")
    if system is not None:
        messages.append(Message("system", [TextPart(_system_text(system))]))
    for i, m in enumerate(f.req_list(body, "messages")):
        messages.extend(_parse_message(m, i, unmodelled))
    metadata = body.get("metadata")
    user = None
    if metadata is not None:
        user = f.opt_str(f.obj(metadata, "metadata"), "user_id", "metadata.")
    return ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=f.opt_num(body, "temperature", 0.0, 1.0),
        top_p=f.opt_num(body, "top_p", 0.0, 1.0),
        top_k=f.opt_int(body, "top_k", lo=0),
        stop=f.stop_list(body.get("stop_sequences"), "stop_sequences"),
        tools=[
            tool for i, t in enumerate(f.opt_list(body, "tools")) if (tool := _parse_tool(t, i, unmodelled))
        ],
        tool_choice=_parse_tool_choice(body.get("tool_choice")),
        user=user,
        stream=bool(f.opt_bool(body, "stream")),
        native=NativeRequest("anthropic", body, unmodelled),
    )


def _neutral(key: str, value: Any) -> bool:
    """A field that, at this value, asks for nothing (thinking disabled)."""
    return key == "thinking" and isinstance(value, dict) and value.get("type") == "disabled"


def _system_text(v: Any, where: str = "system") -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        texts = []
        for j, b in enumerate(v):
            b = f.obj(b, f"{where}[{j}]")
            if b.get("type") != "text":
                raise invalid(f"'{where}[{j}].type' must be 'text'", f"{where}[{j}].type")
            texts.append(f.opt_str(b, "text", f"{where}[{j}].") or "")
        return "\n\n".join(texts)
    raise invalid(f"'{where}' must be a string or an array of text blocks", where)


def _parse_message(m: Any, i: int, unmodelled: list[str]) -> list[Message]:
    """One Anthropic message -> canonical messages (tool results become `tool` messages). A system
    message may stand at any position (the API accepts that since mid-2026)."""
    where = f"messages[{i}]"
    m = f.obj(m, where)
    role = m.get("role")
    if role not in ("user", "assistant", "system"):
        raise invalid(f"'{where}.role' must be 'user', 'assistant' or 'system'", f"{where}.role")
    content = m.get("content")
    if role == "system":
        return [Message("system", [TextPart(_system_text(content, f"{where}.content"))])]
    if isinstance(content, str):
        return [Message(role, [TextPart(content)])]
    if not isinstance(content, list):
        raise invalid(f"'{where}.content' must be a string or an array of content blocks", f"{where}.content")
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for j, b in enumerate(content):
        w = f"{where}.content[{j}]"
        b = f.obj(b, w)
        kind = b.get("type")
        if kind == "text":
            parts.append(TextPart(f.opt_str(b, "text", w + ".") or ""))
        elif kind == "image" and role == "user":
            parts.append(_parse_image(b, w))
        elif kind == "tool_use" and role == "assistant":
            args = orjson.dumps(b.get("input") or {}).decode()
            calls.append(ToolCall(f.req_str(b, "id", w + "."), f.req_str(b, "name", w + "."), args))
        elif kind == "tool_result" and role == "user":
            inner = b.get("content")
            body_parts: list[ContentPart] = (
                [TextPart(inner)] if isinstance(inner, str) else _result_blocks(inner, w)
            )
            results.append(
                Message(
                    "tool",
                    body_parts,
                    tool_call_id=f.req_str(b, "tool_use_id", w + "."),
                    is_error=bool(b.get("is_error")),
                )
            )
        elif kind in _TRACES:
            continue
        elif isinstance(kind, str) and kind:  # documents, search results, server tool blocks, ...
            unmodelled.append(w)
        else:
            raise invalid(f"'{w}.type' {echo(kind)} is not supported in a {role} message", f"{w}.type")
    out = results
    if parts or calls or not results:
        out = [*results, Message(role, parts, tool_calls=calls)]
    return out


def _result_blocks(v: Any, w: str) -> list[ContentPart]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise invalid(f"'{w}.content' must be a string or an array of blocks", f"{w}.content")
    out: list[ContentPart] = []
    for k, b in enumerate(v):
        b = f.obj(b, f"{w}.content[{k}]")
        if b.get("type") == "text":
            out.append(TextPart(f.opt_str(b, "text") or ""))
        elif b.get("type") == "image":
            out.append(_parse_image(b, f"{w}.content[{k}]"))
    return out


def _parse_image(b: dict[str, Any], w: str) -> ImagePart:
    src = f.obj(b.get("source"), f"{w}.source")
    if src.get("type") == "base64":
        media = f.req_str(src, "media_type", f"{w}.source.")
        return ImagePart(f"data:{media};base64,{f.req_str(src, 'data', f'{w}.source.')}")
    if src.get("type") == "url":
        return ImagePart(f.req_str(src, "url", f"{w}.source."))
    raise invalid(f"'{w}.source.type' must be 'base64' or 'url'", f"{w}.source.type")


def _parse_tool(t: Any, i: int, unmodelled: list[str]) -> Tool | None:
    w = f"tools[{i}]"
    t = f.obj(t, w)
    if t.get("type") not in (None, "custom"):
        if not isinstance(t.get("type"), str):
            raise invalid(f"'{w}.type' must be a string", f"{w}.type")
        unmodelled.append(w)  # a server or client tool of Anthropic's (web search, bash, ...)
        return None
    schema = f.obj(t.get("input_schema"), f"{w}.input_schema")
    return Tool(f.req_str(t, "name", w + "."), f.opt_str(t, "description", w + "."), schema)


def _parse_tool_choice(v: Any) -> ToolChoice | None:
    if v is None:
        return None
    v = f.obj(v, "tool_choice")
    parallel = not v.get("disable_parallel_tool_use", False)
    kind = v.get("type")
    if kind == "auto":
        return ToolChoice("auto", parallel=parallel)
    if kind == "any":
        return ToolChoice("required", parallel=parallel)
    if kind == "none":
        return ToolChoice("none")
    if kind == "tool":
        return ToolChoice("tool", name=f.req_str(v, "name", "tool_choice."), parallel=parallel)
    raise invalid("'tool_choice.type' must be one of auto, any, tool, none", "tool_choice.type")


# --- responses -------------------------------------------------------------------


def _tool_input(arguments: str) -> Any:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _counts(u: Usage) -> dict[str, Any]:
    """MessageDeltaUsage (cumulative counts, every key its spec requires). Anthropic's
    `input_tokens` leaves out the cache reads and writes. `output_tokens_details` (reasoning, part
    of the output) is newer than the saved spec: the SDK reads it; it is sent when there is some."""
    out: dict[str, Any] = {
        "input_tokens": u.uncached_input_tokens,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "server_tool_use": None,
    }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def usage_json(u: Usage) -> dict[str, Any]:
    """Usage, with every key its spec requires: what the gateway does not know (the cache writes'
    split by lifetime, the service tier, where the model ran) is null."""
    return {**_counts(u), "cache_creation": None, "service_tier": None, "inference_geo": None}


# Required by the spec (its default): who called the tool; the client's model itself, here.
DIRECT = {"type": "direct"}


def render_response(result: ChatResult, request_id: str, model: str) -> bytes:
    if result.native is not None and result.native.format == "anthropic":
        return orjson.dumps(result.native.data | {"id": f"msg_{request_id}", "model": model})
    content: list[dict[str, Any]] = []
    if result.text or not result.tool_calls:
        content.append({"type": "text", "text": result.text, "citations": None})
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments), "caller": DIRECT}
        for c in result.tool_calls
    ]
    return orjson.dumps(
        {
            "id": f"msg_{request_id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": STOP_REASON[result.finish.reason],
            "stop_sequence": result.finish.stop_sequence,
            # Required by the spec though null: strictly typed clients refuse a message without them.
            "stop_details": None,
            "container": None,
            "usage": usage_json(result.usage),
        }
    )


_ERROR_TYPE = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_timeout": "invalid_request_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "client_disconnected": "invalid_request_error",
    "api_error": "api_error",
    "upstream": "api_error",
    "overloaded": "overloaded_error",
    "shutdown": "overloaded_error",
    "timeout": "timeout_error",
}


def error_body(err: GatewayError, request_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": _ERROR_TYPE.get(err.kind, "api_error"), "message": err.message},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_status(err: GatewayError) -> int:
    return err.status


def _sse(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class StreamEncoder:
    """Canonical events -> named SSE events in Anthropic's order: message_start, blocks with
    sequential indexes (start, deltas, stop), message_delta with cumulative usage, message_stop."""

    def __init__(self, request_id: str, model: str, relay: bool = False) -> None:
        self._id = f"msg_{request_id}"
        self._model = model
        self._relay = relay  # the upstream speaks this format: its events are passed on (NativeChunk)
        self._open: str | None = None  # "text" | "tool_use"
        self._index = -1
        self._tool_block: dict[int, int] = {}  # tool-call index -> block index
        self._finish = Finish("stop")
        self._usage = Usage()

    def start(self) -> bytes:
        if self._relay:
            return b""
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "container": None,
            "usage": usage_json(Usage()),  # the counts come at the end, in message_delta
        }
        return (
            _sse(b"message_start", {"type": "message_start", "message": message})
            + b'event: ping\ndata: {"type":"ping"}\n\n'
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n' % self._index

    def event(self, ev: Event) -> bytes:
        if self._relay:
            return self._relayed(ev) if isinstance(ev, NativeChunk) else b""
        if isinstance(ev, TextDelta):
            out = b""
            if self._open != "text":
                out = self._close()
                self._index += 1
                self._open = "text"
                out += (
                    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
                    b'"content_block":{"type":"text","text":"","citations":null}}\n\n' % self._index
                )
            return out + _sse(
                b"content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self._index,
                    "delta": {"type": "text_delta", "text": ev.text},
                },
            )
        if isinstance(ev, ToolCallStart):
            out = self._close()
            self._index += 1
            self._open = "tool_use"
            self._tool_block[ev.index] = self._index
            block = {"type": "tool_use", "id": ev.id, "name": ev.name, "input": {}, "caller": DIRECT}
            return out + _sse(
                b"content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        if isinstance(ev, ToolCallDelta):
            index = self._tool_block.get(ev.index)
            if index is None or index != self._index or not ev.arguments:
                return b""  # a late fragment for a closed block cannot be sent in this format
            return _sse(
                b"content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": ev.arguments},
                },
            )
        if isinstance(ev, Usage):
            self._usage = ev
        elif isinstance(ev, Finish):
            self._finish = ev
        return b""

    def _relayed(self, ev: NativeChunk) -> bytes:
        data = ev.data
        if data.get("type") == "message_start" and isinstance(data.get("message"), dict):
            data = data | {"message": data["message"] | {"id": self._id, "model": self._model}}
        return _sse((ev.event or str(data.get("type"))).encode(), data)

    def end(self) -> bytes:
        if self._relay:
            return b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        delta = {
            "stop_reason": STOP_REASON[self._finish.reason],
            "stop_sequence": self._finish.stop_sequence,
            "stop_details": None,
            "container": None,
        }
        usage = _counts(self._usage)
        return (
            self._close()
            + _sse(b"message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        )

    def error(self, err: GatewayError) -> bytes:
        return _sse(b"error", error_body(err, None))
