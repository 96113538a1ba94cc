"""The usage-log row: one per client request, successful or not."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class AttemptRow:
    """One upstream call made for a client request (the `attempts` table, linked by request_id)."""

    n: int  # 1, 2, ... in the order they were made
    public_model: str  # the model tried: the one asked for, or a fallback
    deployment: str  # its deployment id
    provider: str
    outcome: str  # "ok" | "error" | "aborted" (the client left, or the gateway failed)
    status: int | None  # the upstream's HTTP status; None when it never answered
    error_type: str | None  # the failure condition (`fallback_on` vocabulary), else the error kind
    latency_ms: float  # until the attempt ended (for a stream: its last byte)
    started_at: float  # unix time (s)


@dataclass(slots=True)
class UsageRow:
    request_id: str
    created_at: float  # unix time (s) when the request arrived
    api_format: str  # the caller's API: "openai" | "anthropic" | "responses"
    endpoint: str  # "chat" | "embeddings" | "responses" | "arena"
    public_model: str  # what the client asked for
    provider: str | None  # None when no model matched
    upstream_model: str | None
    stream: bool
    status: int  # HTTP status the client saw (200 for a stream that later failed: see error_type)
    error_type: str | None  # canonical error kind (multimodel.errors.Kind) or None
    latency_ms: float  # until the last byte was sent
    ttft_ms: float | None  # time to first token (first content event)
    input_tokens: int = 0  # all of them, the cached ones included (as multimodel.types.Usage)
    output_tokens: int = 0
    cache_read_tokens: int = 0  # part of input_tokens
    cache_write_tokens: int = 0  # part of input_tokens
    reasoning_tokens: int = 0  # part of output_tokens
    cost_usd: float | None = None  # from the model's price; None when unpriced
    user: str | None = None
    prompt: str | None = None  # JSON of the canonical messages, when log_content is on
    answer: str | None = None  # the answer text (+ tool calls as JSON), when log_content is on
    # What the client asked for (`auto`, or a model whose fallback answered) when another model answered.
    route: str | None = None
    key_id: str | None = None  # the gateway API key (api_keys.id) that made the request
    # Every upstream call made for this request, in order; written with the row, in its transaction.
    attempts: list[AttemptRow] = field(default_factory=list)


# A client's strings (the model asked for, the user) go into indexed columns: cut to this, so that
# no entry can exceed PostgreSQL's btree limit (2704 bytes) and cost its row.
NAME_MAX_CHARS = 256

_CONTENT = ("prompt", "answer")
_NAMES = tuple(f.name for f in fields(UsageRow) if f.type in ("str", "str | None") and f.name not in _CONTENT)
_ATTEMPT_NAMES = tuple(f.name for f in fields(AttemptRow) if f.type in ("str", "str | None"))


def bounded(row: UsageRow, content_max_bytes: int) -> UsageRow:
    """The row (changed in place) with every short string cut to NAME_MAX_CHARS and the prompt
    and answer to `content_max_bytes`: what the usage log may store of a request."""
    for rows, names in ((row,), _NAMES), (row.attempts, _ATTEMPT_NAMES):
        for r in rows:
            for name in names:
                v = getattr(r, name)
                if v is not None and len(v) > NAME_MAX_CHARS:
                    setattr(r, name, v[:NAME_MAX_CHARS])
    if row.prompt is not None:
        row.prompt = clip_content(row.prompt, content_max_bytes)
    if row.answer is not None:
        row.answer = clip_content(row.answer, content_max_bytes)
    return row


def clip_content(text: str, max_bytes: int) -> str:
    """`text` if its UTF-8 fits in `max_bytes`, else its first `max_bytes` and a note saying so."""
    if len(text) * 4 <= max_bytes:  # no character takes more than 4 bytes
        return text
    data = text[: max_bytes + 1].encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    head = data[:max_bytes].decode("utf-8", "ignore")  # drops a character cut in two
    return f"{head}…[truncated to {max_bytes} bytes: {len(text)} characters in all]"
