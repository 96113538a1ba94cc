"""Validate payloads and SSE streams against the saved OpenAI and Anthropic specs.

    validate("openai", "CreateChatCompletionResponse", body)
    validate("anthropic", "Message", body, lenient=True)
    chunks = check_openai_stream(raw_bytes, include_usage=True)
    events = check_anthropic_stream(raw_bytes)

The specs (tests/specs/, see SOURCES.md there) do not validate real payloads as-is. At load time
we apply three transforms (the files stay untouched):

1. nullable: OAS-3.0 `nullable: true` inside these OAS-3.1 documents becomes a JSON-Schema null
   alternative (`type: [T, "null"]`, `None` added to `enum`, or `anyOf: [..., {type: null}]`).
2. discriminators: a `oneOf`/`anyOf` with a `discriminator` is rewritten into explicit dispatch on
   the tag property (`if tag == v then branch`), with the tag values taken from the mapping or
   from each branch's `const`/`enum`. This gives one precise error instead of "not valid under
   any of the given schemas", and avoids the schema-name guess that breaks mapping-less unions.
3. lenient (opt-in, meant for responses): properties that are nullable or have a `default` are
   dropped from `required` unless they are `const` tags. The Anthropic spec marks every such
   response field required, so its own examples fail without this.

Two relaxations are added as data: OpenAI `Embedding.embedding` may be a base64 string
(`encoding_format: "base64"`, the Python SDK's default), and the Anthropic spec gains `PingEvent`
and `ErrorEvent` schemas for the two stream events it lacks.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parent.parent / "specs"
_FILES = {"openai": "openai/openapi.json", "anthropic": "anthropic/anthropic.json"}
_ANNOTATIONS = {"description", "title", "default", "examples", "example", "deprecated"}

# ---------------------------------------------------------------------------------------------
# Loading and transforms.


def _walk(node: Any, fn: Any) -> None:
    """Call fn on every dict in the document, children first."""
    if isinstance(node, dict):
        for value in node.values():
            _walk(value, fn)
        fn(node)
    elif isinstance(node, list):
        for value in node:
            _walk(value, fn)


def _fix_nullable(node: dict[str, Any]) -> None:
    if "nullable" not in node or isinstance(node["nullable"], dict):
        return  # a property *named* "nullable" is a schema, not the keyword
    if node.pop("nullable") is not True:
        return
    if "type" in node:
        types = [node["type"]] if isinstance(node["type"], str) else list(node["type"])
        node["type"] = [*types, "null"] if "null" not in types else types
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    elif "enum" in node:
        node["enum"] = [*node["enum"], None]
    elif any(k in node for k in ("$ref", "allOf", "anyOf", "oneOf")):
        inner = {k: node.pop(k) for k in list(node) if k not in _ANNOTATIONS}
        node["anyOf"] = [inner, {"type": "null"}]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and schema["$ref"].startswith("#/") and seen < 20:
        target: Any = doc
        for part in schema["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema, seen = target, seen + 1
    return schema


def _tags(doc: dict[str, Any], schema: dict[str, Any], prop: str) -> list[Any]:
    """The discriminator values a union branch accepts (from const/enum), or [] if unknown."""
    schema = _resolve(doc, schema)
    spec = schema.get("properties", {}).get(prop)
    if isinstance(spec, dict):
        spec = _resolve(doc, spec)
        if "const" in spec:
            return [spec["const"]]
        if "enum" in spec:
            return [v for v in spec["enum"] if v is not None]
    for part in schema.get("allOf", []):
        found = _tags(doc, part, prop)
        if found:
            return found
    return []


def _dispatch_discriminator(doc: dict[str, Any], node: dict[str, Any]) -> None:
    disc = node.get("discriminator")
    if not isinstance(disc, dict) or "propertyName" not in disc:
        return
    key = "oneOf" if "oneOf" in node else "anyOf" if "anyOf" in node else None
    if key is None:
        node.pop("discriminator")
        return
    prop, mapping = disc["propertyName"], disc.get("mapping", {})
    by_tag: dict[Any, list[dict[str, Any]]] = {}
    for branch in node[key]:
        tags = _tags(doc, branch, prop) or [t for t, ref in mapping.items() if ref == branch.get("$ref")]
        if not tags:
            node.pop("discriminator")  # cannot dispatch: keep the plain union
            return
        for tag in tags:
            by_tag.setdefault(tag, []).append(branch)
    node.pop("discriminator")
    node.pop(key)
    rules: list[dict[str, Any]] = [
        {"type": "object", "required": [prop], "properties": {prop: {"enum": list(by_tag)}}}
    ]
    for tag, branches in by_tag.items():
        then = branches[0] if len(branches) == 1 else {"anyOf": branches}
        rules.append({"if": {"properties": {prop: {"const": tag}}, "required": [prop]}, "then": then})
    node["allOf"] = [*node.get("allOf", []), *rules]


def _accepts_null(doc: dict[str, Any], schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    schema = _resolve(doc, schema)
    types = schema.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    if None in schema.get("enum", ()):
        return True
    return any(_accepts_null(doc, s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _make_lenient(doc: dict[str, Any], node: dict[str, Any]) -> None:
    props, required = node.get("properties"), node.get("required")
    if not isinstance(props, dict) or not isinstance(required, list):
        return

    def optional(name: str) -> bool:
        spec = props.get(name)
        if not isinstance(spec, dict) or "const" in spec:
            return False
        return "default" in spec or _accepts_null(doc, spec)

    node["required"] = [name for name in required if not optional(name)]


_EXTRA_ANTHROPIC = {
    "PingEvent": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"const": "ping"}},
    },
    "ErrorEvent": {
        "type": "object",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


@functools.cache
def spec(api: str, lenient: bool = False) -> dict[str, Any]:
    """The transformed spec document (cached; do not mutate)."""
    if api not in _FILES:
        raise ValueError(f"unknown api {api!r}; expected one of {sorted(_FILES)}")
    doc = json.loads((SPEC_DIR / _FILES[api]).read_text())
    schemas = doc["components"]["schemas"]
    if api == "openai":
        vector = schemas["Embedding"]["properties"]["embedding"]
        schemas["Embedding"]["properties"]["embedding"] = {"anyOf": [vector, {"type": "string"}]}
    else:
        for name, schema in _EXTRA_ANTHROPIC.items():
            assert name not in schemas, f"{name} now exists in the Anthropic spec"
            schemas[name] = schema
    _walk(doc, _fix_nullable)
    _walk(doc, lambda node: _dispatch_discriminator(doc, node))
    if lenient:
        _walk(doc, lambda node: _make_lenient(doc, node))
    return doc


@functools.cache
def _registry(api: str, lenient: bool) -> Registry:
    resource = Resource.from_contents(spec(api, lenient), default_specification=DRAFT202012)
    return Registry().with_resource(f"urn:spec:{api}", resource)


@functools.cache
def validator(api: str, schema_name: str, lenient: bool = False) -> Draft202012Validator:
    if schema_name not in spec(api, lenient)["components"]["schemas"]:
        raise KeyError(f"{api} spec has no schema {schema_name!r}")
    ref = {"$ref": f"urn:spec:{api}#/components/schemas/{schema_name}"}
    return Draft202012Validator(ref, registry=_registry(api, lenient))


def _path(error: ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(error: ValidationError) -> str:
    msg = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    text = f"at {_path(error)}: {msg}"
    if error.context:
        closest = best_match(error.context)
        text += f" (closest: at {_path(closest)}: {closest.message[:200]})"
    return text


def problems(api: str, schema_name: str, instance: Any, lenient: bool = False) -> list[str]:
    """Validation failures as readable lines (empty when valid)."""
    errors = validator(api, schema_name, lenient).iter_errors(instance)
    return [_describe(e) for e in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])]


def validate(api: str, schema_name: str, instance: Any, lenient: bool = False) -> None:
    """Raise AssertionError listing every way `instance` fails `schema_name` of the `api` spec."""
    found = problems(api, schema_name, instance, lenient)
    if found:
        mode = " (lenient)" if lenient else ""
        lines = "\n  - ".join(found)
        raise AssertionError(f"{api} {schema_name}{mode}: {len(found)} problem(s):\n  - {lines}")


# ---------------------------------------------------------------------------------------------
# SSE parsing.


@dataclass(frozen=True)
class SSEEvent:
    event: str | None
    data: str


def parse_sse(raw: bytes | str) -> list[SSEEvent]:
    """Split an SSE body into events with the WHATWG field rules the official SDKs use.

    Lines end with CRLF, LF or CR; a blank line dispatches; `:` lines are comments; one space after
    the colon is stripped; several `data:` lines join with "\\n". Like the SDKs' decoder (and
    unlike a browser), an event that has an `event:` line but no data is still reported, with
    data "", so checkers can flag it. A last event without its blank line is dropped."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    text = text.removeprefix("\ufeff")
    events: list[SSEEvent] = []
    name: str | None = None
    data: list[str] = []
    pending = False
    for line in re.split(r"\r\n|\r|\n", text)[:-1]:  # the last piece has no line ending
        if not line:
            if pending:
                events.append(SSEEvent(name, "\n".join(data)))
            name, data, pending = None, [], False
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
            pending = True
        elif field == "event":
            name, pending = value or None, True
    return events


# ---------------------------------------------------------------------------------------------
# Stream contract checks.


def _fail(title: str, found: list[str], raw: bytes | str) -> None:
    if found:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        head = text if len(text) <= 3000 else text[:3000] + "\n…"
        lines = "\n  - ".join(found)
        raise AssertionError(f"{title} ({len(found)} problem(s)):\n  - {lines}\n--- stream ---\n{head}")


def _ends_blank(raw: bytes | str) -> bool:
    data = raw.encode() if isinstance(raw, str) else raw
    return data.endswith((b"\n\n", b"\r\r", b"\r\n\r\n"))


def _load_json(data: str, where: str, found: list[str]) -> dict[str, Any] | None:
    try:
        obj = json.loads(data)
    except ValueError:
        found.append(f"{where}: data is not JSON: {data[:120]!r}")
        return None
    if not isinstance(obj, dict):
        found.append(f"{where}: data is not a JSON object: {data[:120]!r}")
        return None
    return obj


def check_openai_stream(raw: bytes | str, include_usage: bool, *, allow_error: bool = False) -> list[dict]:
    """Check an OpenAI chat-completions SSE body; return its JSON events (without [DONE]).

    Data-only events, each a valid `CreateChatCompletionStreamResponse` with one shared
    id/model/created; `role` only in each choice's first delta; tool-call id/type/name exactly
    once per (choice, tool index), tool indexes 0, 1, …, arguments that join into JSON; one
    finish_reason per choice; usage only in a final `choices: []` chunk, present iff
    `include_usage`; `data: [DONE]` last.

    With `allow_error=True` the stream may instead end with a `data: {"error": {...}}` event
    (validated against `ErrorResponse`), as the API sends for mid-stream failures; `[DONE]` after
    it is then optional, and finish_reason/usage are not required."""
    found: list[str] = []
    if not _ends_blank(raw):
        found.append("the stream does not end with a blank line (the last event would be dropped)")
    events = parse_sse(raw)
    chunks: list[dict] = []
    done = errored = False
    first: dict[str, Any] | None = None
    started: set[int] = set()
    finished: dict[int, str] = {}
    tools: dict[tuple[int, int], list[str]] = {}  # (choice, tool index) -> argument fragments
    usage_at: list[int] = []
    for i, ev in enumerate(events):
        where = f"event {i}"
        if ev.event is not None:
            found.append(f"{where}: has an `event: {ev.event}` line; chat streams are data-only")
        if done:
            found.append(f"{where}: comes after [DONE]: {ev.data[:80]!r}")
            continue
        if ev.data == "[DONE]":
            done = True
            continue
        if errored:
            found.append(f"{where}: comes after the error event: {ev.data[:80]!r}")
            continue
        obj = _load_json(ev.data, where, found)
        if obj is None:
            continue
        chunks.append(obj)
        if "error" in obj:
            errored = True
            if not allow_error:
                found.append(f"{where}: error event {obj['error']!r} (pass allow_error=True if expected)")
            found.extend(f"{where}: {p}" for p in problems("openai", "ErrorResponse", obj))
            continue
        found.extend(f"{where}: {p}" for p in problems("openai", "CreateChatCompletionStreamResponse", obj))
        if first is None:
            first = obj
        for key in ("id", "model", "created", "object"):
            if obj.get(key) != first.get(key):
                found.append(
                    f"{where}: {key} {obj.get(key)!r} differs from the first chunk's {first.get(key)!r}"
                )
        if obj.get("usage") is not None:
            usage_at.append(len(chunks) - 1)
            u = obj["usage"]
            if isinstance(u, dict) and u.get("total_tokens") != (u.get("prompt_tokens") or 0) + (
                u.get("completion_tokens") or 0
            ):
                found.append(f"{where}: usage.total_tokens != prompt_tokens + completion_tokens: {u}")
        elif obj.get("choices") == []:
            found.append(f"{where}: a chunk with choices: [] must carry usage")
        for choice in obj.get("choices") or []:
            if isinstance(choice, dict):
                _check_choice(choice, where, started, finished, tools, found)
    if not done and not (errored and allow_error):
        found.append("the stream does not end with data: [DONE]")
    if not errored:
        for index in sorted(started - set(finished)):
            found.append(f"choice {index} never got a finish_reason")
        if first is None:
            found.append("the stream has no chunks")
    if include_usage:
        if not usage_at and not errored:
            found.append("include_usage was asked but no chunk carries usage")
        for n, at in enumerate(usage_at):
            if n or chunks[at].get("choices") != [] or at != len(chunks) - 1:
                found.append(f"chunk {at}: usage must come once, in the last chunk, with choices: []")
    elif usage_at:
        found.append(f"chunks {usage_at} carry usage although include_usage was not asked")
    for (choice, tool), parts in tools.items():
        args = "".join(parts)
        try:
            json.loads(args or "{}")
        except ValueError:
            found.append(f"choice {choice} tool call {tool}: arguments are not JSON: {args[:120]!r}")
    _fail("OpenAI chat stream contract violated", found, raw)
    return chunks


def _check_choice(
    choice: dict[str, Any],
    where: str,
    started: set[int],
    finished: dict[int, str],
    tools: dict[tuple[int, int], list[str]],
    found: list[str],
) -> None:
    index = choice.get("index")
    delta = choice.get("delta") or {}
    if not isinstance(index, int) or not isinstance(delta, dict):
        return
    where = f"{where} choice {index}"
    if index not in started:
        started.add(index)
        if delta.get("role") != "assistant":
            found.append(f"{where}: the first delta must carry role 'assistant', got {delta!r}")
    elif "role" in delta:
        found.append(f"{where}: role repeated after the first delta (the SDK concatenates it)")
    if index in finished and (delta.get("content") or delta.get("tool_calls")):
        found.append(f"{where}: content after finish_reason {finished[index]!r}")
    for call in delta.get("tool_calls") or []:
        if not isinstance(call, dict) or not isinstance(call.get("index"), int):
            continue
        key = (index, call["index"])
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        if key not in tools:
            expected = sum(1 for c, _ in tools if c == index)
            if call["index"] != expected:
                found.append(f"{where}: tool call index {call['index']}, expected {expected}")
            if not call.get("id") or call.get("type") != "function" or not fn.get("name"):
                found.append(f"{where}: first fragment of tool call {call['index']} needs id, type, name")
            tools[key] = []
        else:
            repeated = [k for k in ("id", "type") if k in call] + (["function.name"] if "name" in fn else [])
            if repeated:
                found.append(f"{where}: tool call {call['index']} repeats {repeated} (the SDK concatenates)")
        if isinstance(fn.get("arguments"), str):
            tools[key].append(fn["arguments"])
    reason = choice.get("finish_reason")
    if reason is not None:
        if index in finished:
            found.append(f"{where}: second finish_reason {reason!r}")
        finished[index] = reason
        if reason == "tool_calls" and not any(c == index for c, _ in tools):
            found.append(f"{where}: finish_reason 'tool_calls' without any tool call")


_ANTHROPIC_EVENTS = {
    "message_start": "MessageStartEvent",
    "content_block_start": "ContentBlockStartEvent",
    "content_block_delta": "ContentBlockDeltaEvent",
    "content_block_stop": "ContentBlockStopEvent",
    "message_delta": "MessageDeltaEvent",
    "message_stop": "MessageStopEvent",
    "ping": "PingEvent",
    "error": "ErrorEvent",
}
_DELTAS_FOR_BLOCK = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


@dataclass
class _AnthropicState:
    started: bool = False
    ended: str | None = None  # "message_stop" or "error"
    next_index: int = 0
    open_index: int | None = None
    open_type: str | None = None
    partial_json: str = ""
    message_deltas: int = 0
    output_tokens: int = 0


def check_anthropic_stream(raw: bytes | str, *, lenient: bool = True) -> list[dict]:
    """Check an Anthropic Messages SSE body; return its JSON events (ping/error included).

    Every event named (`event:` equal to data.type) and valid against the lenient spec (the
    strict one with `lenient=False`; plus the ping/error schemas); message_start first; blocks
    opened in index order 0, 1, … one at a time; deltas only to the open block and of a type that
    fits it; tool_use input {} at start and partial_json joining into a JSON object; no
    message_delta while a block is open; cumulative output_tokens never decreasing; the end is
    message_delta(s) then message_stop, or an `error` event; nothing after it and no [DONE].
    `ping` may come anywhere."""
    found: list[str] = []
    if not _ends_blank(raw):
        found.append("the stream does not end with a blank line (the last event would be dropped)")
    out: list[dict] = []
    st = _AnthropicState()
    for i, ev in enumerate(parse_sse(raw)):
        where = f"event {i}"
        if ev.data.startswith("[DONE]"):
            found.append(f"{where}: data: [DONE] is not part of Anthropic streams")
            continue
        obj = _load_json(ev.data, where, found)
        if obj is None:
            continue
        out.append(obj)
        kind = obj.get("type")
        where = f"event {i} ({kind})"
        if ev.event is None:
            found.append(f"{where}: no `event:` line (the SDK drops unnamed events)")
        elif ev.event != kind:
            found.append(f"{where}: `event: {ev.event}` does not match data.type {kind!r}")
        if kind not in _ANTHROPIC_EVENTS:
            found.append(f"{where}: unknown event type")
            continue
        found.extend(f"{where}: {p}" for p in problems("anthropic", _ANTHROPIC_EVENTS[kind], obj, lenient))
        if st.ended is not None:
            found.append(f"{where}: comes after {st.ended}")
            continue
        _anthropic_step(st, kind, obj, where, found)
    if st.ended is None:
        found.append("the stream ends without message_stop (or an error event)")
    _fail("Anthropic messages stream contract violated", found, raw)
    return out


def _anthropic_step(
    st: _AnthropicState, kind: str, obj: dict[str, Any], where: str, found: list[str]
) -> None:
    if kind == "ping":
        return
    if kind == "error":
        st.ended = "error"
        return
    if kind == "message_start":
        if st.started:
            found.append(f"{where}: second message_start")
        st.started = True
        message = obj.get("message") or {}
        if message.get("content") != [] or message.get("stop_reason") is not None:
            found.append(f"{where}: message must start with content [] and stop_reason null")
        st.output_tokens = (message.get("usage") or {}).get("output_tokens") or 0
        return
    if not st.started:
        found.append(f"{where}: before message_start")
    index = obj.get("index")
    if kind == "content_block_start":
        block = obj.get("content_block") or {}
        if st.open_index is not None:
            found.append(f"{where}: block {index} starts while block {st.open_index} is still open")
        if index != st.next_index:
            found.append(f"{where}: index {index}, expected {st.next_index} (indexes run 0, 1, 2…)")
        if block.get("type") in ("tool_use", "server_tool_use") and block.get("input") != {}:
            found.append(f"{where}: a streamed {block.get('type')} block starts with input {{}}")
        st.next_index = index + 1 if isinstance(index, int) else st.next_index + 1
        st.open_index, st.open_type, st.partial_json = index, block.get("type"), ""
    elif kind == "content_block_delta":
        delta = obj.get("delta") or {}
        if st.open_index is None or index != st.open_index:
            found.append(f"{where}: delta for block {index}, but the open block is {st.open_index}")
        elif delta.get("type") not in _DELTAS_FOR_BLOCK.get(st.open_type or "", set()):
            found.append(f"{where}: {delta.get('type')} does not fit a {st.open_type} block")
        if delta.get("type") == "input_json_delta":
            st.partial_json += delta.get("partial_json") or ""
    elif kind == "content_block_stop":
        if st.open_index is None or index != st.open_index:
            found.append(f"{where}: stops block {index}, but the open block is {st.open_index}")
        if st.open_type in ("tool_use", "server_tool_use") and st.partial_json:
            try:
                parsed = json.loads(st.partial_json)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                found.append(
                    f"{where}: input_json_delta fragments do not form a JSON object: {st.partial_json!r}"
                )
        st.open_index = st.open_type = None
    elif kind == "message_delta":
        if st.open_index is not None:
            found.append(f"{where}: message_delta while block {st.open_index} is open")
        st.message_deltas += 1
        tokens = (obj.get("usage") or {}).get("output_tokens")
        if isinstance(tokens, int):
            if tokens < st.output_tokens:
                found.append(f"{where}: output_tokens {tokens} < {st.output_tokens} (usage is cumulative)")
            st.output_tokens = tokens
    elif kind == "message_stop":
        if st.open_index is not None:
            found.append(f"{where}: message_stop while block {st.open_index} is open")
        if not st.message_deltas:
            found.append(f"{where}: message_stop without a message_delta before it")
        st.ended = "message_stop"
