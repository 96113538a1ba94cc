"""OpenAI Chat Completions as an upstream format: canonical -> request body, response/chunks -> events."""

from __future__ import annotations

from typing import Any

from multimodel.errors import GatewayError
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
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def build_body(
    req: ChatRequest, upstream_model: str, *, max_tokens_field: str, stream_usage: bool
) -> dict[str, Any]:
    if req.native is not None and req.native.sent_to("openai"):
        return _native_body(req.native.body, upstream_model, max_tokens_field, req.stream and stream_usage)
    body: dict[str, Any] = {"model": upstream_model, "messages": [_message(m) for m in req.messages]}
    if req.max_tokens is not None:
        body[max_tokens_field] = req.max_tokens
    for key in ("temperature", "top_p", "seed", "user", "response_format", "reasoning_effort"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.stop:
        body["stop"] = req.stop
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description or "", "parameters": t.parameters},
            }
            for t in req.tools
        ]
    tc = req.tool_choice
    if tc is not None:
        if tc.mode == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": tc.name}}
        else:
            body["tool_choice"] = tc.mode
        if req.tools and not tc.parallel:
            body["parallel_tool_calls"] = False
    if req.stream:
        body["stream"] = True
        if stream_usage:  # always ask: the usage log needs the token counts
            body["stream_options"] = {"include_usage": True}
    return body


def _native_body(
    body: dict[str, Any], upstream_model: str, max_tokens_field: str, usage: bool
) -> dict[str, Any]:
    """The client's own request, with the upstream's model, its name for the token cap, and (for
    the usage log) usage asked for in a stream; everything else untouched."""
    body = body | {"model": upstream_model}
    other = "max_tokens" if max_tokens_field == "max_completion_tokens" else "max_completion_tokens"
    if other in body and max_tokens_field not in body:
        body[max_tokens_field] = body.pop(other)
    if usage:
        options = body.get("stream_options")
        body["stream_options"] = (options if isinstance(options, dict) else {}) | {"include_usage": True}
    return body


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text()}
    if m.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": m.text() or None}
        if m.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in m.tool_calls
            ]
        return out
    if any(isinstance(p, ImagePart) for p in m.content):
        parts: list[dict[str, Any]] = []
        for p in m.content:
            if isinstance(p, TextPart):
                parts.append({"type": "text", "text": p.text})
            else:
                image: dict[str, Any] = {"url": p.url}
                if p.detail:
                    image["detail"] = p.detail
                parts.append({"type": "image_url", "image_url": image})
        return {"role": m.role, "content": parts}
    return {"role": m.role, "content": m.text()}


def _usage(u: Any) -> Usage:
    """CompletionUsage: the cache and reasoning counts are in its details, parts of the totals."""
    u = v.obj(u)
    prompt, completion = v.count(u.get("prompt_tokens")), v.count(u.get("completion_tokens"))
    details = v.opt_obj(u.get("prompt_tokens_details"))
    read = v.part(details.get("cached_tokens"), prompt)
    written = v.part(details.get("cache_write_tokens"), prompt - read)
    reasoning = v.part(v.opt_obj(u.get("completion_tokens_details")).get("reasoning_tokens"), completion)
    return Usage(prompt, completion, read, written, reasoning)


def _finish(reason: Any) -> Finish:
    return Finish(_FINISH.get(v.text(reason), "stop"))


def upstream_error(data: dict[str, Any]) -> GatewayError:
    err = data.get("error")
    message = err.get("message") if isinstance(err, dict) else str(err)
    return GatewayError("upstream", f"upstream error: {message}")


def parse_response(body: Any) -> list[Event]:
    """A non-streaming chat.completion -> events."""
    try:
        choice = v.obj(body["choices"][0])
        msg = v.obj(choice["message"])
        events: list[Event] = []
        if msg.get("content"):
            events.append(TextDelta(v.text(msg["content"])))
        for i, c in enumerate(msg.get("tool_calls") or []):
            fn = v.obj(c["function"])
            events.append(ToolCallStart(i, v.text(c["id"]), v.text(fn["name"])))
            events.append(ToolCallDelta(i, v.text(fn.get("arguments") or "")))
        events.append(_usage(body.get("usage") or {}))
        events.append(_finish(choice.get("finish_reason") or "stop"))
        return events
    except v.SHAPE_ERRORS:
        raise GatewayError("upstream", "upstream returned a malformed chat completion") from None


class ChunkParser:
    """Streamed chat.completion.chunk objects -> events. Usage and finish are held until `end`."""

    def __init__(self) -> None:
        self._calls: dict[int, int] = {}  # upstream tool index -> our sequential index
        self._finish: Finish | None = None
        self._usage = Usage()

    def feed(self, chunk: Any) -> list[Event]:
        if not isinstance(chunk, dict):
            raise GatewayError("upstream", "upstream sent a malformed stream chunk")
        if chunk.get("error"):
            raise upstream_error(chunk)
        try:
            if chunk.get("usage"):
                self._usage = _usage(chunk["usage"])
            choices = chunk.get("choices")
            if not choices:
                return []
            choice = v.obj(choices[0])
            delta = v.obj(choice.get("delta") or {})
            events: list[Event] = []
            if delta.get("content"):
                events.append(TextDelta(v.text(delta["content"])))
            for tc in delta.get("tool_calls") or ():
                tc = v.obj(tc)
                up_index = tc.get("index", 0)
                fn = v.obj(tc.get("function") or {})
                index = self._calls.get(up_index)
                if index is None:
                    index = self._calls[up_index] = len(self._calls)
                    name = v.text(fn.get("name") or "")
                    events.append(ToolCallStart(index, v.text(tc.get("id") or f"call_{index}"), name))
                if fn.get("arguments"):
                    events.append(ToolCallDelta(index, v.text(fn["arguments"])))
            if choice.get("finish_reason"):
                self._finish = _finish(choice["finish_reason"])
            return events
        except v.SHAPE_ERRORS:
            raise GatewayError("upstream", "upstream sent a malformed stream chunk") from None

    def end(self) -> list[Event]:
        if self._finish is None:
            raise GatewayError("upstream", "upstream stream ended before the answer was finished")
        return [self._usage, self._finish]
