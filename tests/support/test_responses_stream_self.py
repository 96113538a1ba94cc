"""The Responses stream checker accepts a well-formed stream and flags broken copies of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.responses_stream import check_responses_stream

MSG = "msg_1"
PART: dict[str, Any] = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
ITEM: dict[str, Any] = {
    "id": MSG,
    "type": "message",
    "role": "assistant",
    "status": "in_progress",
    "content": [],
}
RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1741290958,
    "status": "in_progress",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "model": "gpt-5.4",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "temperature": 1.0,
    "top_p": 1.0,
    "metadata": {},
}
IDS = {"item_id": MSG, "output_index": 0, "content_index": 0}
DONE_ITEM = {**ITEM, "status": "completed", "content": [{**PART, "text": "Hi there"}]}
USAGE = {
    "input_tokens": 3,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 2,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 5,
}
EVENTS: list[dict[str, Any]] = [
    {"type": "response.created", "response": RESPONSE},
    {"type": "response.in_progress", "response": RESPONSE},
    {"type": "response.output_item.added", "output_index": 0, "item": ITEM},
    {"type": "response.content_part.added", **IDS, "part": PART},
    {"type": "response.output_text.delta", **IDS, "delta": "Hi", "logprobs": []},
    {"type": "response.output_text.delta", **IDS, "delta": " there", "logprobs": []},
    {"type": "response.output_text.done", **IDS, "text": "Hi there", "logprobs": []},
    {"type": "response.content_part.done", **IDS, "part": {**PART, "text": "Hi there"}},
    {"type": "response.output_item.done", "output_index": 0, "item": DONE_ITEM},
    {
        "type": "response.completed",
        "response": {**RESPONSE, "status": "completed", "output": [DONE_ITEM], "usage": USAGE},
    },
]


def render(events: list[dict[str, Any]], renumber: bool = True) -> str:
    out = ""
    for i, ev in enumerate(events):
        data = {**ev, "sequence_number": i} if renumber else ev
        out += f"event: {ev['type']}\ndata: {json.dumps(data)}\n\n"
    return out


def test_a_well_formed_stream_passes() -> None:
    events = check_responses_stream(render(EVENTS))
    assert [e["sequence_number"] for e in events] == list(range(len(EVENTS)))


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (render(EVENTS).replace("event: response.output_text.delta\n", "", 1), "does not match data.type"),
        (render(EVENTS) + "data: [DONE]\n\n", "[DONE] is not part of Responses streams"),
        (render([EVENTS[1], EVENTS[0], *EVENTS[2:]]), "the first event must be response.created"),
        (render([*EVENTS[:3], EVENTS[4], EVENTS[3], *EVENTS[5:]]), "text delta before its content part"),
        (render([*EVENTS[:5], *EVENTS[6:]]), "is not the deltas joined"),
        (render([*EVENTS[:8], EVENTS[9]]), "were never done"),
        (render(EVENTS[:-1]), "ends without response.completed"),
        (
            render(EVENTS).replace('"sequence_number": 4', '"sequence_number": 7'),
            "sequence_number 7, expected 4",
        ),
        (render([*EVENTS[:4], {**EVENTS[4], "logprobs": None}, *EVENTS[5:]]), "None is not of type 'array'"),
    ],
)
def test_broken_streams_are_flagged(broken: str, problem: str) -> None:
    with pytest.raises(AssertionError, match="Responses stream contract violated") as e:
        check_responses_stream(broken)
    assert problem in str(e.value)
