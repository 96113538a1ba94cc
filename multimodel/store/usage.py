"""The usage-log row: one per client request, successful or not."""

from __future__ import annotations

from dataclasses import dataclass


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
    route: str | None = None  # the alias the client asked for (`auto`) when another model answered
    key_id: str | None = None  # the gateway API key (api_keys.id) that made the request
