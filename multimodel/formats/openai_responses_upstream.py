"""OpenAI Responses as an upstream format, for a request that came in it (NativeRequest
"responses"): the upstream's response object or typed SSE events -> canonical events, so the
usage log, costs and feedback see the answer while the client gets the upstream's own events."""

from __future__ import annotations

from typing import Any

from multimodel.errors import GatewayError
from multimodel.formats import upstream_values as v
from multimodel.formats.openai_upstream import upstream_error
from multimodel.types import Event, Finish, FinishReason, TextDelta, ToolCallDelta, ToolCallStart, Usage

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
_INCOMPLETE: dict[str, FinishReason] = {"max_output_tokens": "length", "content_filter": "content_filter"}


def usage(u: Any) -> Usage:
    u = v.obj(u or {})
    inp, out = v.count(u.get("input_tokens")), v.count(u.get("output_tokens"))
    cached = v.count(v.obj(u.get("input_tokens_details") or {}).get("cached_tokens"))
    reasoning = v.count(v.obj(u.get("output_tokens_details") or {}).get("reasoning_tokens"))
    return Usage(inp, out, cache_read_tokens=min(cached, inp), reasoning_tokens=min(reasoning, out))


def finish(response: dict[str, Any], calls: int) -> Finish:
    if response.get("status") == "incomplete":
        reason = v.text(v.obj(response.get("incomplete_details") or {}).get("reason") or "")
        return Finish(_INCOMPLETE.get(reason, "length"))
    return Finish("tool_calls" if calls else "stop")


def parse_response(body: Any) -> list[Event]:
    """A whole response object -> events."""
    try:
        body = v.obj(body)
        if body.get("status") == "failed":
            raise upstream_error({"error": body.get("error")})
        events: list[Event] = []
        calls = 0
        for item in body["output"]:
            item = v.obj(item)
            if item.get("type") == "message":
                text = "".join(
                    v.text(p.get("text") or "") for p in item.get("content") or () if isinstance(p, dict)
                )
                if text:
                    events.append(TextDelta(text))
            elif item.get("type") == "function_call":
                events.append(ToolCallStart(calls, v.text(item["call_id"]), v.text(item["name"])))
                events.append(ToolCallDelta(calls, v.text(item.get("arguments") or "")))
                calls += 1
        return [*events, usage(body.get("usage")), finish(body, calls)]
    except v.SHAPE_ERRORS:
        raise GatewayError("upstream", "upstream returned a malformed response") from None


class EventParser:
    """Typed stream events -> canonical events; usage and finish at the terminal event."""

    def __init__(self) -> None:
        self._calls: dict[int, int] = {}  # output index -> tool-call index
        self.done = False

    def feed(self, data: Any) -> list[Event]:
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str):
            raise GatewayError("upstream", "upstream sent a malformed stream event")
        try:
            if kind == "response.output_text.delta":
                return [TextDelta(v.text(data["delta"]))] if data["delta"] else []
            if kind == "response.output_item.added":
                item = v.obj(data["item"])
                if item.get("type") == "function_call":
                    index = self._calls[data["output_index"]] = len(self._calls)
                    start: list[Event] = [ToolCallStart(index, v.text(item["call_id"]), v.text(item["name"]))]
                    return start
                return []
            if kind == "response.function_call_arguments.delta":
                at = self._calls.get(data["output_index"])
                return [ToolCallDelta(at, v.text(data["delta"]))] if at is not None and data["delta"] else []
            if kind in TERMINAL:
                self.done = True
                response = v.obj(data["response"])
                if kind == "response.failed":
                    raise upstream_error({"error": response.get("error")})
                return [usage(response.get("usage")), finish(response, len(self._calls))]
            if kind == "error":
                raise upstream_error({"error": data})
            return []
        except v.SHAPE_ERRORS:
            raise GatewayError("upstream", "upstream sent a malformed stream event") from None
