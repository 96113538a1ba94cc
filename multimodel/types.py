"""Canonical request, message and stream-event types.

Every client wire format converts to these and back, and every provider consumes
and produces them (translate once: N formats + M providers, not N x M).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
# Canonical finish reasons; each wire format maps them to its own vocabulary.
FinishReason = Literal["stop", "length", "tool_calls", "stop_sequence", "content_filter"]


@dataclass(slots=True)
class TextPart:
    text: str


@dataclass(slots=True)
class ImagePart:
    """An image as a URL: either http(s) or a `data:<media type>;base64,...` URL."""

    url: str
    detail: str | None = None


ContentPart = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it


@dataclass(slots=True)
class Message:
    role: Role
    content: list[ContentPart] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant only
    tool_call_id: str | None = None  # tool only: the call this result answers
    is_error: bool = False  # tool only

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # when mode == "tool"
    parallel: bool = True


@dataclass(slots=True)
class NativeRequest:
    """The client's request as it came, beside its canonical form: when the answering upstream
    speaks the client's own format, this body is what is sent (model swapped), so nothing the
    canonical types do not model is lost (prompt caching, thinking, betas, logprobs, ...).

    `unmodelled` names what the canonical form leaves out (`logprobs`, `messages[1].content[0]`):
    an upstream of another format cannot honour those, so such a request is refused naming the
    first one (Capabilities.missing), never quietly changed."""

    format: str  # the client's wire format: "openai" (chat completions) | "anthropic" (messages)
    body: dict[str, Any]
    unmodelled: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # to pass on (`anthropic-beta`)
    query: dict[str, str] = field(default_factory=dict)  # to pass on (`beta=true`)
    # Set by the flow once a deployment answers: it speaks this format, so its own answer (its
    # NativeChunks) is relayed to the client.
    relay: bool = False

    def sent_to(self, wire: str) -> bool:
        """Whether an upstream call in the `wire` format sends this body as it is."""
        return wire == self.format


@dataclass(slots=True)
class ChatRequest:
    model: str  # the public name the client sent
    messages: list[Message]  # system messages stay in order; formats that need one system string merge them
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage (client side)
    seed: int | None = None
    # OpenAI's reasoning effort ("low", "high", ...): None leaves it to the model. Only providers
    # whose Capabilities say `reasoning` take it; elsewhere it is a 400 (not silently dropped).
    reasoning_effort: str | None = None
    native: NativeRequest | None = None  # the client's own request, for an upstream of its format


@dataclass(slots=True)
class EmbedRequest:
    model: str
    inputs: list[str] | list[list[int]]
    dimensions: int | None = None
    user: str | None = None


@dataclass(slots=True)
class EmbedResult:
    vectors: list[list[float]]
    input_tokens: int


# --- stream events (what a provider yields) ---------------------------------


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallStart:
    index: int  # 0, 1, ... in the order calls appear in the answer
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON arguments


@dataclass(slots=True)
class Usage:
    """An answer's token counts, in one meaning for every format (OpenAI's).

    `input_tokens` counts every input token, cached ones included; `cache_read_tokens` (read from
    the provider's prompt cache) and `cache_write_tokens` (written to it) are parts of it, and
    never add up to more. `output_tokens` counts every output token; `reasoning_tokens` (hidden
    thinking) are part of it. Anthropic's own `input_tokens` leaves the cache reads and writes
    out: its parsers add them in, its renderers take them out again (`uncached_input_tokens`).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def uncached_input_tokens(self) -> int:
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    stop_sequence: str | None = None


@dataclass(slots=True)
class NativeChunk:
    """An upstream's own answer or stream event, yielded beside the canonical events parsed from it
    when the request came in the upstream's format (NativeRequest): the client's encoder relays it
    (ids and model made the gateway's) instead of rendering the canonical events, so fields the
    canonical types do not model reach the client too. Other encoders ignore it."""

    format: str
    data: dict[str, Any]
    event: str | None = None  # the SSE event name, for formats that name their events


Event = TextDelta | ToolCallStart | ToolCallDelta | Usage | Finish | NativeChunk


@dataclass(slots=True)
class ChatResult:
    """A whole answer: the stream's events collected (see `collect`)."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: Finish = field(default_factory=lambda: Finish("stop"))
    usage: Usage = field(default_factory=Usage)
    native: NativeChunk | None = None  # a non-streaming upstream answer in its own format

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, ToolCallStart):
            self.tool_calls.append(ToolCall(event.id, event.name, ""))
        elif isinstance(event, ToolCallDelta):
            self.tool_calls[event.index].arguments += event.arguments
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish = event
        elif isinstance(event, NativeChunk):
            self.native = event
