"""OpenAI Responses as a client-facing format, response side: canonical answer -> output items,
the response object (for an answer and for a stored response alike), and the typed SSE events.

A stream is `event: <type>` + `data: <json>` per event, each with a `sequence_number` from 0, in
the order the SDK's accumulator (openai/lib/streaming/responses) expects: response.created,
response.in_progress; per output item: output_item.added, then for a message
content_part.added, output_text.delta*, output_text.done, content_part.done, and for a function
call function_call_arguments.delta*, function_call_arguments.done; output_item.done; last
response.completed, response.incomplete (max tokens, content filter) or response.failed (an
error after the stream began). No `[DONE]`: the Responses API ends with the stream.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from multimodel.errors import GatewayError
from multimodel.formats.openai_responses_items import new_id
from multimodel.formats.openai_responses_upstream import TERMINAL, usage
from multimodel.store.responses import ResponseRecord
from multimodel.types import (
    ChatResult,
    Event,
    Finish,
    NativeChunk,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

# Canonical finishes that leave a response incomplete, with OpenAI's reason.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
# ResponseError.code has a closed vocabulary; what is not one of these is a server error.
_FAILED_CODES = {"rate_limit": "rate_limit_exceeded", "invalid_request": "invalid_prompt"}


def response_id(request_id: str) -> str:
    """resp_<hex> for req_<hex>: a response's usage row is found from its id."""
    return "resp_" + request_id.removeprefix("req_")


def message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,  # the upstream's id: a function_call_output answers it
        "name": name,
        "arguments": arguments,
    }


def output_items(result: ChatResult) -> list[dict[str, Any]]:
    """A whole answer's items: its text (if any), then its function calls."""
    status = "incomplete" if result.finish.reason in _INCOMPLETE else "completed"
    items = [message_item(new_id("msg_"), result.text, status)] if result.text else []
    items += [call_item(new_id("fc_"), c.id, c.name, c.arguments, "completed") for c in result.tool_calls]
    return items


def finish_record(rec: ResponseRecord, finish: Finish, usage: Usage, items: list[dict[str, Any]]) -> None:
    reason = _INCOMPLETE.get(finish.reason)
    rec.status = "incomplete" if reason else "completed"
    rec.incomplete_reason = reason
    rec.completed_at = None if reason else time.time()
    rec.output_items = items
    rec.input_tokens, rec.output_tokens = usage.input_tokens, usage.output_tokens
    rec.cached_tokens, rec.reasoning_tokens = usage.cache_read_tokens, usage.reasoning_tokens


def usage_json(rec: ResponseRecord) -> dict[str, Any]:
    return {
        "input_tokens": rec.input_tokens,
        "input_tokens_details": {"cached_tokens": rec.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": rec.output_tokens,
        "output_tokens_details": {"reasoning_tokens": rec.reasoning_tokens},
        "total_tokens": rec.input_tokens + rec.output_tokens,
    }


def response_object(
    rec: ResponseRecord, *, store: bool, error: dict[str, str] | None = None
) -> dict[str, Any]:
    """The response object. `store`: whether it is kept (false when storing failed)."""
    s = rec.settings
    done = rec.status in ("completed", "incomplete")
    body: dict[str, Any] = {
        "id": rec.id,
        "object": "response",
        "created_at": int(rec.created_at),
        "status": rec.status,
        "completed_at": None if rec.completed_at is None else int(rec.completed_at),
        "error": error,
        "incomplete_details": {"reason": rec.incomplete_reason} if rec.incomplete_reason else None,
        "instructions": rec.instructions,
        "max_output_tokens": s.get("max_output_tokens"),
        "model": rec.model,
        "output": rec.output_items,
        "parallel_tool_calls": s.get("parallel_tool_calls", True),
        "previous_response_id": rec.previous_response_id,
        "reasoning": s.get("reasoning") or {"effort": None, "summary": None},
        "store": store,
        "temperature": s.get("temperature"),
        "text": s.get("text") or {"format": {"type": "text"}},
        "tool_choice": s.get("tool_choice", "auto"),
        "tools": s.get("tools", []),
        "top_p": s.get("top_p"),
        "truncation": "disabled",  # a too-long input fails: nothing is dropped from it
        "metadata": rec.metadata,
    }
    # Both optional and not nullable in the spec: absent until known.
    if done:
        body["usage"] = usage_json(rec)
    if s.get("user") is not None:
        body["user"] = s["user"]
    return body


def failed_error(err: GatewayError) -> dict[str, str]:
    return {"code": _FAILED_CODES.get(err.kind, "server_error"), "message": err.message}


class StreamEncoder:
    """Canonical events -> typed SSE events (see the module docstring). One output item is open
    at a time: text opens a message, a tool call a function_call item, and each closes the one
    before. `finish()` closes the last and fills the record (before it is stored); `end()` then
    sends the closing events and the final response."""

    def __init__(self, rec: ResponseRecord, store: bool, relay: bool = False) -> None:
        self.rec = rec
        self.store = store  # what the final event says: set false when storing failed
        # Relay: the upstream speaks this API; its events pass on (NativeChunk), its terminal
        # event held until end() so that it can say whether the response was stored.
        self._relay = relay
        self._terminal: NativeChunk | None = None
        self._seq = 0
        self._items: list[dict[str, Any]] = []
        self._open: int | None = None  # output index of the item being streamed
        self._calls: dict[int, int] = {}  # canonical tool-call index -> output index
        self._finish = Finish("stop")
        self._usage = Usage()
        self._tail: bytes | None = None  # the closing events, once finish() ran

    def _event(self, kind: str, body: dict[str, Any]) -> bytes:
        data = {"type": kind, **body, "sequence_number": self._seq}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def start(self) -> bytes:
        if self._relay:
            return b""
        body = {"response": response_object(self.rec, store=self.store)}
        return self._event("response.created", body) + self._event("response.in_progress", body)

    def event(self, ev: Event) -> bytes:
        if self._relay:
            return self._relayed(ev) if isinstance(ev, NativeChunk) else b""
        if isinstance(ev, TextDelta):
            out = b"" if self._open_is("message") else self._open_message()
            at = self._open
            assert at is not None
            item = self._items[at]
            item["content"][0]["text"] += ev.text
            body = {"item_id": item["id"], "output_index": at, "content_index": 0, "delta": ev.text}
            return out + self._event("response.output_text.delta", {**body, "logprobs": []})
        if isinstance(ev, ToolCallStart):
            out = self._close("completed")
            item = call_item(new_id("fc_"), ev.id, ev.name, "", "in_progress")
            at = self._open = self._calls[ev.index] = len(self._items)
            self._items.append(item)
            return out + self._event("response.output_item.added", {"output_index": at, "item": item})
        if isinstance(ev, ToolCallDelta):
            at = self._calls.get(ev.index)
            if at is None or at != self._open:
                # Every provider streams a call's arguments before what follows it: a late
                # fragment could only be appended to an item already reported done.
                raise GatewayError("upstream", "upstream sent tool-call arguments out of order")
            self._items[at]["arguments"] += ev.arguments
            body = {"item_id": self._items[at]["id"], "output_index": at, "delta": ev.arguments}
            return self._event("response.function_call_arguments.delta", body)
        if isinstance(ev, Usage):
            self._usage = ev
        elif isinstance(ev, Finish):
            self._finish = ev
        return b""

    def _open_is(self, kind: str) -> bool:
        return self._open is not None and self._items[self._open]["type"] == kind

    def _open_message(self) -> bytes:
        out = self._close("completed")
        item = message_item(new_id("msg_"), "", "in_progress")
        part = item["content"].pop()  # announced empty, then its part (as OpenAI does)
        at = self._open = len(self._items)
        self._items.append(item)
        out += self._event("response.output_item.added", {"output_index": at, "item": item})
        item["content"].append(part)
        body = {"item_id": item["id"], "output_index": at, "content_index": 0, "part": part}
        return out + self._event("response.content_part.added", body)

    def _close(self, status: str) -> bytes:
        at = self._open
        if at is None:
            return b""
        self._open = None
        item = self._items[at]
        item["status"] = status
        ids = {"item_id": item["id"], "output_index": at}
        if item["type"] == "message":
            part = item["content"][0]
            out = self._event(
                "response.output_text.done",
                {**ids, "content_index": 0, "text": part["text"], "logprobs": []},
            )
            out += self._event("response.content_part.done", {**ids, "content_index": 0, "part": part})
        else:
            body = {**ids, "name": item["name"], "arguments": item["arguments"]}
            out = self._event("response.function_call_arguments.done", body)
        return out + self._event("response.output_item.done", {"output_index": at, "item": item})

    def _relayed(self, ev: NativeChunk) -> bytes:
        data = ev.data
        if data.get("type") in TERMINAL:
            self._terminal = ev
            return b""
        if isinstance(data.get("response"), dict):
            data = data | {"response": relayed(data["response"], self.rec, store=self.store)}
        return b"event: " + str(data.get("type")).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def finish(self) -> None:
        """Close the open item and fill the record with the whole answer. Idempotent."""
        if self._relay:
            if self._terminal is not None and self.rec.status == "in_progress":
                native_record(self.rec, self._terminal.data["response"])
            return
        if self._tail is None:
            self._tail = self._close("incomplete" if self._finish.reason in _INCOMPLETE else "completed")
            finish_record(self.rec, self._finish, self._usage, self._items)

    def end(self) -> bytes:
        self.finish()
        if self._relay:
            if self._terminal is None:
                return b""
            data = self._terminal.data
            data = data | {"response": relayed(data["response"], self.rec, store=self.store)}
            return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        assert self._tail is not None
        kind = "response.completed" if self.rec.status == "completed" else "response.incomplete"
        return self._tail + self._event(kind, {"response": response_object(self.rec, store=self.store)})

    def error(self, err: GatewayError) -> bytes:
        """The answer broke off: a failed response (never stored) with the items begun."""
        self.rec.status = "failed"
        self.rec.output_items = self._items
        failed = response_object(self.rec, store=False, error=failed_error(err))
        return self._event("response.failed", {"response": failed})


def relayed(response: dict[str, Any], rec: ResponseRecord, *, store: bool) -> dict[str, Any]:
    """An upstream's own response object, as the gateway's: its id, the public model, and whether
    the gateway stored it (whatever the upstream did)."""
    return response | {"id": rec.id, "model": rec.model, "store": store}


def native_record(rec: ResponseRecord, response: dict[str, Any]) -> None:
    """Fill the record from an upstream's own final response object (for storage and retrieval)."""
    rec.status = str(response.get("status") or "completed")
    details = response.get("incomplete_details")
    rec.incomplete_reason = details.get("reason") if isinstance(details, dict) else None
    rec.completed_at = None if rec.incomplete_reason else time.time()
    output = response.get("output")
    rec.output_items = [i for i in output if isinstance(i, dict)] if isinstance(output, list) else []
    u = usage(response.get("usage"))
    rec.input_tokens, rec.output_tokens = u.input_tokens, u.output_tokens
    rec.cached_tokens, rec.reasoning_tokens = u.cache_read_tokens, u.reasoning_tokens
