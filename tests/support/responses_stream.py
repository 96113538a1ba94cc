"""Check an OpenAI Responses API SSE body against the spec's event schemas and the event order the
SDK's accumulator (openai/lib/streaming/responses/_responses.py) relies on.

    events = check_responses_stream(raw_bytes)                       # ends response.completed
    events = check_responses_stream(raw_bytes, end="response.failed")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.specs import _ends_blank, _fail, _load_json, parse_sse, problems

SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "error": "ResponseErrorEvent",
}
ENDS = ("response.completed", "response.incomplete", "response.failed")


@dataclass
class _State:
    response_id: str | None = None
    ended: str | None = None
    added: dict[int, dict[str, Any]] = field(default_factory=dict)  # output index -> item so far
    done: dict[int, dict[str, Any]] = field(default_factory=dict)  # output index -> done item
    parts: dict[int, int] = field(default_factory=dict)  # output index -> content parts added
    text: dict[int, str] = field(default_factory=dict)  # output index -> text deltas joined
    args: dict[int, str] = field(default_factory=dict)  # output index -> argument deltas joined


def check_responses_stream(raw: bytes | str, end: str = "response.completed") -> list[dict[str, Any]]:
    """Every event named (`event:` equal to data.type), valid against its spec schema (lenient),
    numbered by `sequence_number` 0, 1, 2, ...; response.created then response.in_progress first;
    output items added at indexes 0, 1, ... and done before the next is added, their deltas only
    while open (text after its content part), done events repeating the deltas joined; one
    response id throughout; the stream ends with `end` (nothing after it, no [DONE]), whose
    output holds exactly the done items (a failed response: the items begun)."""
    found: list[str] = []
    if not _ends_blank(raw):
        found.append("the stream does not end with a blank line (the last event would be dropped)")
    out: list[dict[str, Any]] = []
    st = _State()
    for i, ev in enumerate(parse_sse(raw)):
        where = f"event {i}"
        if ev.data.startswith("[DONE]"):
            found.append(f"{where}: data: [DONE] is not part of Responses streams")
            continue
        obj = _load_json(ev.data, where, found)
        if obj is None:
            continue
        out.append(obj)
        kind = obj.get("type")
        where = f"event {i} ({kind})"
        if ev.event != kind:
            found.append(f"{where}: `event: {ev.event}` does not match data.type {kind!r}")
        if obj.get("sequence_number") != i:
            found.append(f"{where}: sequence_number {obj.get('sequence_number')!r}, expected {i}")
        if kind not in SCHEMAS:
            found.append(f"{where}: unknown event type")
            continue
        found.extend(f"{where}: {p}" for p in problems("openai", SCHEMAS[kind], obj))
        if st.ended is not None:
            found.append(f"{where}: comes after {st.ended}")
            continue
        _step(st, i, kind, obj, where, found)
    if st.ended is None:
        found.append("the stream ends without response.completed, .incomplete or .failed")
    elif st.ended != end:
        found.append(f"the stream ends with {st.ended}, expected {end}")
    _fail("Responses stream contract violated", found, raw)
    return out


def _step(st: _State, i: int, kind: str, obj: dict[str, Any], where: str, found: list[str]) -> None:
    if i == 0 and kind != "response.created":
        found.append(f"{where}: the first event must be response.created")
    if i == 1 and kind != "response.in_progress":
        found.append(f"{where}: the second event must be response.in_progress")
    if "response" in obj:
        rid = obj["response"].get("id")
        if st.response_id is None:
            st.response_id = rid
        elif rid != st.response_id:
            found.append(f"{where}: response id {rid!r} differs from {st.response_id!r}")
    index = obj.get("output_index")
    if kind == "response.output_item.added":
        open_ = [k for k in st.added if k not in st.done]
        if open_:
            found.append(f"{where}: item {index} added while item {open_[0]} is open")
        if index != len(st.added):
            found.append(f"{where}: output_index {index}, expected {len(st.added)}")
        st.added[index] = obj["item"]
        st.text[index], st.args[index], st.parts[index] = "", "", 0
        return
    if kind in ENDS:
        _end(st, kind, obj, where, found)
        return
    if index is None:
        return
    if index not in st.added or index in st.done:
        found.append(f"{where}: output item {index} is not open")
        return
    item = st.added[index]
    if "item_id" in obj and obj["item_id"] != item.get("id"):
        found.append(f"{where}: item_id {obj['item_id']!r} is not the open item's {item.get('id')!r}")
    if kind == "response.content_part.added":
        st.parts[index] += 1
    elif kind == "response.output_text.delta":
        if obj.get("content_index", 0) >= st.parts[index]:
            found.append(f"{where}: text delta before its content part was added")
        st.text[index] += obj["delta"]
    elif kind == "response.output_text.done":
        if obj["text"] != st.text[index]:
            found.append(f"{where}: text {obj['text']!r} is not the deltas joined {st.text[index]!r}")
    elif kind == "response.function_call_arguments.delta":
        st.args[index] += obj["delta"]
    elif kind == "response.function_call_arguments.done":
        if obj["arguments"] != st.args[index]:
            found.append(f"{where}: arguments are not the deltas joined {st.args[index]!r}")
        if st.args[index]:
            try:
                json.loads(st.args[index])
            except ValueError:
                found.append(f"{where}: arguments are not JSON: {st.args[index]!r}")
    elif kind == "response.output_item.done":
        done = obj["item"]
        if done.get("id") != item.get("id") or done.get("type") != item.get("type"):
            found.append(f"{where}: the done item is not the added one")
        if done.get("type") == "message":
            texts = [p.get("text") for p in done.get("content", [])]
            if texts != [st.text[index]]:
                found.append(f"{where}: message content {texts!r} is not the deltas joined")
        elif done.get("type") == "function_call" and done.get("arguments") != st.args[index]:
            found.append(f"{where}: arguments are not the deltas joined")
        st.done[index] = done


def _end(st: _State, kind: str, obj: dict[str, Any], where: str, found: list[str]) -> None:
    st.ended = kind
    response = obj["response"]
    status = {"response.completed": "completed", "response.incomplete": "incomplete"}.get(kind, "failed")
    if response.get("status") != status:
        found.append(f"{where}: response status {response.get('status')!r}, expected {status!r}")
    ids = [it.get("id") for it in response.get("output", [])]
    if kind == "response.failed":
        if ids != [st.added[k].get("id") for k in sorted(st.added)]:
            found.append(f"{where}: output ids {ids!r} are not the items begun")
        return
    if set(st.done) != set(st.added):
        found.append(f"{where}: items {sorted(set(st.added) - set(st.done))} were never done")
    if response.get("output") != [st.done[k] for k in sorted(st.done)]:
        found.append(f"{where}: the final output is not the done items")
    if not isinstance(response.get("usage"), dict):
        found.append(f"{where}: a finished response carries its usage")
