"""The usage-log row: one per client request, successful or not."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    api_format: str  # the caller's API: "openai" | "anthropic"
    endpoint: str  # "chat" | "embeddings"
    public_model: str  # what the client asked for
    provider: str | None  # None when no model matched
    upstream_model: str | None
    stream: bool
    status: int  # HTTP status the client saw (200 for a stream that later failed: see error_type)
    error_type: str | None  # canonical error kind (multimodel.errors.Kind) or None
    latency_ms: float  # until the last byte was sent
    ttft_ms: float | None  # time to first token (first content event)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # from the model's price; None when unpriced
    user: str | None = None
    prompt: str | None = None  # JSON of the canonical messages, when log_content is on
    answer: str | None = None  # the answer text (+ tool calls as JSON), when log_content is on
    # What the client asked for (`auto`, or a model whose fallback answered) when another model answered.
    route: str | None = None
    key_id: str | None = None  # the gateway API key (api_keys.id) that made the request
    # Every upstream call made for this request, in order; written with the row, in its transaction.
    attempts: list[AttemptRow] = field(default_factory=list)
