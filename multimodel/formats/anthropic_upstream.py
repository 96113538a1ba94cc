"""Anthropic Messages as an upstream format: canonical -> request body, response/events -> events."""

from __future__ import annotations

from typing import Any

import orjson

from multimodel.errors import GatewayError, Kind
from multimodel.formats import upstream_values as v
from multimodel.types import (
    ChatRequest,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
    "model_context_window_exceeded": "length",
}
_KINDS: dict[str, Kind] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
}


def build_body(req: ChatRequest, upstream_model: str, *, default_max_tokens: int) -> dict[str, Any]:
    if req.native is not None and req.native.sent_to("anthropic"):
        return req.native.body | {"model": upstream_model}  # the client's own request, untouched
    system = "\n\n".join(m.text() for m in req.messages if m.role == "system")
    messages: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)  # the API wants user/assistant turns to alternate
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": req.max_tokens or default_max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = system
    if req.temperature is not None:
        body["temperature"] = min(req.temperature, 1.0)  # OpenAI's range is 0-2, Anthropic's 0-1
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.top_k is not None:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description or "", "input_schema": t.parameters}
            for t in req.tools
        ]
    tc = req.tool_choice
    if tc is not None and (req.tools or tc.mode == "none"):
        choice: dict[str, Any] = {
            "type": {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[tc.mode]
        }
        if tc.mode == "tool":
            choice["name"] = tc.name
        if not tc.parallel and tc.mode != "none":
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    if req.stream:
        body["stream"] = True
    return body


# What a Messages request has that POST /v1/messages/count_tokens does not take.
_NOT_COUNTED = (
    "max_tokens",
    "stream",
    "metadata",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "service_tier",
)


def count_body(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _NOT_COUNTED}


def parse_count(body: Any) -> int:
    try:
        return v.count(v.obj(body)["input_tokens"])
    except v.SHAPE_ERRORS:
        raise GatewayError("upstream", "upstream returned a malformed token count") from None


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        content: list[dict[str, Any]] = [_part(p) for p in m.content]
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": content}
        if m.is_error:
            block["is_error"] = True
        return [block]
    blocks = [_part(p) for p in m.content if not (isinstance(p, TextPart) and not p.text)]
    for c in m.tool_calls:
        try:
            args = orjson.loads(c.arguments or "{}")
        except orjson.JSONDecodeError:
            args = {}
        blocks.append(
            {"type": "tool_use", "id": c.id, "name": c.name, "input": args if isinstance(args, dict) else {}}
        )
    return blocks


def _part(p: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    if p.url.startswith("data:"):
        header, _, data = p.url.partition(",")
        media = header[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": p.url}}


def error_from(data: Any, status: int | None = None) -> GatewayError:
    err = data.get("error") if isinstance(data, dict) else None
    etype = err.get("type") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    kind = _KINDS.get(etype or "", "upstream")
    return GatewayError(kind, f"upstream error: {message or etype or 'unknown'}", status=status)


# Anthropic's usage counts; its `input_tokens` leaves out the cache reads and writes.
_COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _counts(u: Any) -> dict[str, int]:
    """The counts a usage object states. message_delta's are cumulative, and may leave out the
    input's (null or absent): what it leaves out keeps message_start's value."""
    u = v.obj(u)
    out = {k: v.count(u[k]) for k in _COUNTS if u.get(k) is not None}
    thinking = v.opt_obj(u.get("output_tokens_details")).get("thinking_tokens")
    if thinking is not None:
        out["thinking_tokens"] = v.count(thinking)
    return out


def _usage(c: dict[str, int]) -> Usage:
    read, written = c.get("cache_read_input_tokens", 0), c.get("cache_creation_input_tokens", 0)
    output = c.get("output_tokens", 0)
    return Usage(
        input_tokens=v.count(c.get("input_tokens", 0) + read + written),
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=min(c.get("thinking_tokens", 0), output),
    )


def _finish(d: dict[str, Any]) -> Finish:
    return Finish(
        _FINISH.get(v.text(d.get("stop_reason") or "end_turn"), "stop"), v.opt_text(d.get("stop_sequence"))
    )


def parse_response(body: Any) -> list[Event]:
    try:
        events: list[Event] = []
        calls = 0
        for block in body["content"]:
            block = v.obj(block)
            if block["type"] == "text" and block.get("text"):
                events.append(TextDelta(v.text(block["text"])))
            elif block["type"] == "tool_use":
                events.append(ToolCallStart(calls, v.text(block["id"]), v.text(block["name"])))
                events.append(ToolCallDelta(calls, orjson.dumps(v.obj(block.get("input") or {})).decode()))
                calls += 1
        events.append(_usage(_counts(body.get("usage") or {})))
        events.append(_finish(body))
        return events
    except (*v.SHAPE_ERRORS, orjson.JSONEncodeError):
        raise GatewayError("upstream", "upstream returned a malformed message") from None


class EventParser:
    """Named stream events -> canonical events; usage and finish are emitted at message_stop."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._finish: Finish | None = None
        self._block_tool: dict[int, int] = {}  # block index -> tool-call index
        self.done = False

    def feed(self, name: str | None, data: Any) -> list[Event]:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind is None:
            raise GatewayError("upstream", "upstream sent a malformed stream event")
        try:
            if kind == "content_block_delta":
                delta = v.obj(data["delta"])
                if delta["type"] == "text_delta":
                    return [TextDelta(v.text(delta["text"]))] if delta["text"] else []
                if delta["type"] == "input_json_delta" and delta["partial_json"]:
                    return [ToolCallDelta(self._block_tool[data["index"]], v.text(delta["partial_json"]))]
                return []
            if kind == "content_block_start":
                block = v.obj(data["content_block"])
                if block["type"] == "tool_use":
                    index = self._block_tool[data["index"]] = len(self._block_tool)
                    return [ToolCallStart(index, v.text(block["id"]), v.text(block["name"]))]
                if block["type"] == "text" and block.get("text"):
                    return [TextDelta(v.text(block["text"]))]
                return []
            if kind == "message_start":
                self._counts = _counts(v.obj(data["message"]).get("usage") or {})
            elif kind == "message_delta":
                self._counts.update(_counts(data.get("usage") or {}))
                self._finish = _finish(v.obj(data["delta"]))
            elif kind == "message_stop":
                self.done = True
                return [_usage(self._counts), self._finish or Finish("stop")]
            elif kind == "error":
                raise error_from(data)
            return []
        except v.SHAPE_ERRORS:
            raise GatewayError("upstream", "upstream sent a malformed stream event") from None
