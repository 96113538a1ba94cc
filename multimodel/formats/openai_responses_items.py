"""OpenAI Responses input items: normalized once, on the way in, to the shapes the API returns
them in (`input_items`), with ids: a message with typed content parts, `function_call`,
`function_call_output`. `messages()` turns such items into canonical messages, for a new input
and for a stored conversation alike.
"""

from __future__ import annotations

import secrets
from typing import Any

from multimodel.errors import echo, invalid
from multimodel.formats import fields as f
from multimodel.types import ContentPart, ImagePart, Message, TextPart, ToolCall

_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_DETAILS = ("auto", "low", "high", "original")


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def parse_input(v: Any) -> list[dict[str, Any]]:
    if isinstance(v, str):
        return [_message_item("user", [{"type": "input_text", "text": v}], new_id("msg_"))]
    if not isinstance(v, list):
        raise invalid("'input' must be a string or an array of input items", "input")
    items = []
    for i, raw in enumerate(v):
        item = _item(raw, f"input[{i}]")
        if item is not None:
            items.append(item)
    return items


def _item(raw: Any, where: str) -> dict[str, Any] | None:
    raw = f.obj(raw, where)
    kind = raw.get("type", "message" if "role" in raw else None)
    if kind == "message":
        return _message(raw, where)
    if kind == "function_call":
        arguments = raw.get("arguments")
        if not isinstance(arguments, str):
            raise invalid(f"'{where}.arguments' must be a JSON string", f"{where}.arguments")
        return {
            "id": _id(raw, "fc_", where),
            "type": "function_call",
            "call_id": f.req_str(raw, "call_id", where + "."),
            "name": f.req_str(raw, "name", where + "."),
            "arguments": arguments,
            "status": "completed",
        }
    if kind == "function_call_output":
        return {
            "id": _id(raw, "fco_", where),
            "type": "function_call_output",
            "call_id": f.req_str(raw, "call_id", where + "."),
            "output": _call_output(raw.get("output"), f"{where}.output"),
            "status": "completed",
        }
    if kind == "reasoning":
        # A reasoning item carries an OpenAI model's own (often encrypted) reasoning state. The
        # canonical path cannot hand it to any upstream, so it is accepted and dropped: clients
        # that replay a whole conversation (as the Agents SDK does) keep working.
        return None
    raise invalid(
        f"'{where}.type' {echo(kind)} is not supported (message, function_call, function_call_output)",
        f"{where}.type",
    )


def _message(raw: dict[str, Any], where: str) -> dict[str, Any]:
    role = raw.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise invalid(f"'{where}.role' must be one of user, assistant, system, developer", f"{where}.role")
    content = raw.get("content")
    item_id = _id(raw, "msg_", where)
    if role == "assistant":
        texts = _assistant_texts(content, f"{where}.content")
        parts = [{"type": "output_text", "text": t, "annotations": [], "logprobs": []} for t in texts]
        return _message_item("assistant", parts, item_id)
    return _message_item(role, _input_parts(content, f"{where}.content"), item_id)


def _message_item(role: str, parts: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": role, "status": "completed", "content": parts}


def _id(raw: dict[str, Any], prefix: str, where: str) -> str:
    """The client's item id (an item replayed from an earlier response keeps its own), else a new one."""
    v = raw.get("id")
    if v is None:
        return new_id(prefix)
    if not isinstance(v, str) or not v:
        raise invalid(f"'{where}.id' must be a non-empty string", f"{where}.id")
    return v


def _input_parts(v: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(v, str):
        return [{"type": "input_text", "text": v}]
    if not isinstance(v, list):
        raise invalid(f"'{where}' must be a string or an array of content parts", where)
    parts = []
    for j, p in enumerate(v):
        w = f"{where}[{j}]"
        p = f.obj(p, w)
        kind = p.get("type")
        if kind in ("input_text", "output_text"):
            parts.append({"type": "input_text", "text": _text_of(p, w)})
        elif kind == "input_image":
            url = p.get("image_url")
            if not isinstance(url, str) or not url:
                raise invalid(
                    f"'{w}.image_url' is required (file_id images are not supported)", f"{w}.image_url"
                )
            detail = p.get("detail") or "auto"
            if detail not in _DETAILS:
                raise invalid(f"'{w}.detail' must be one of {', '.join(_DETAILS)}", f"{w}.detail")
            parts.append({"type": "input_image", "image_url": url, "detail": detail})
        else:
            raise invalid(f"'{w}.type' {echo(kind)} is not supported (input_text, input_image)", f"{w}.type")
    return parts


def _assistant_texts(v: Any, where: str) -> list[str]:
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list):
        raise invalid(f"'{where}' must be a string or an array of content parts", where)
    texts = []
    for j, p in enumerate(v):
        w = f"{where}[{j}]"
        p = f.obj(p, w)
        kind = p.get("type")
        if kind in ("output_text", "input_text"):
            texts.append(_text_of(p, w))
        elif kind != "refusal":  # a refusal is no text the model should read back
            raise invalid(f"'{w}.type' {echo(kind)} is not supported (output_text, refusal)", f"{w}.type")
    return texts


def _text_of(p: dict[str, Any], where: str) -> str:
    text = p.get("text")
    if not isinstance(text, str):
        raise invalid(f"'{where}.text' must be a string", f"{where}.text")
    return text


def _call_output(v: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return _input_parts(v, where)
    raise invalid(f"'{where}' must be a string or an array of content parts", where)


def messages(items: list[dict[str, Any]]) -> list[Message]:
    """Canonical messages for normalized items (new, or read back from storage)."""
    out: list[Message] = []
    for it in items:
        kind = it.get("type")
        if kind == "message":
            role = _ROLES.get(it.get("role", ""), "user")
            out.append(Message(role, _parts(it.get("content") or [])))  # type: ignore[arg-type]
        elif kind == "function_call":
            call = ToolCall(it["call_id"], it["name"], it["arguments"])
            # Calls in a row are one assistant turn (with its text, if any): the chat APIs want
            # every call of a turn in one message, followed by their results.
            if out and out[-1].role == "assistant":
                out[-1].tool_calls.append(call)
            else:
                out.append(Message("assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            output = it.get("output")
            parts: list[ContentPart] = [TextPart(output)] if isinstance(output, str) else _parts(output or [])
            out.append(Message("tool", parts, tool_call_id=it["call_id"]))
    return out


def _parts(content: list[dict[str, Any]]) -> list[ContentPart]:
    parts: list[ContentPart] = []
    for p in content:
        if p.get("type") in ("input_text", "output_text"):
            parts.append(TextPart(p.get("text", "")))
        elif p.get("type") == "input_image":
            parts.append(ImagePart(p["image_url"], p.get("detail")))
    return parts
