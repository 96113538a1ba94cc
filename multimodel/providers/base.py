"""The provider seam: one required method, `stream`.

A provider turns a canonical `ChatRequest` into an upstream call and yields canonical
events, ending with one `Finish`. It may yield a list of events instead of one: the HTTP
providers yield what one network read brought, so the gateway answers with one write per
read. When `request.stream` is false it may make a non-streaming upstream call and yield
the whole answer at once; callers treat both the same way. Errors are raised as
`GatewayError` (before or during the stream).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import aiohttp

from multimodel.config.schema import ConfigError, DeploymentConfig, ProviderOptions
from multimodel.errors import GatewayError
from multimodel.types import ChatRequest, EmbedRequest, EmbedResult, Event, ImagePart


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do: data, not branches."""

    tools: bool = True
    vision: bool = True
    embeddings: bool = False
    # Honours response_format (JSON mode, a JSON schema); a provider that would ignore it says no.
    structured_output: bool = False
    reasoning: bool = False  # takes a reasoning effort (ChatRequest.reasoning_effort)
    # The client wire formats the upstream speaks itself ("openai" chat, "anthropic"): a request in
    # one of them is sent as the client wrote it (NativeRequest). None: canonical requests only.
    wires: tuple[str, ...] = ()

    def missing(self, req: ChatRequest) -> tuple[str, str] | None:
        """(what, request field) the request needs and the provider lacks, else None."""
        if req.tools and not self.tools:
            return "tools", "tools"
        if not self.vision and any(isinstance(p, ImagePart) for m in req.messages for p in m.content):
            return "image input", "messages"
        rf = req.response_format
        if rf is not None and rf.get("type") != "text" and not self.structured_output:
            return "structured output (response_format)", "response_format"
        if req.reasoning_effort is not None and not self.reasoning:
            return "reasoning", "reasoning"
        native = req.native
        if native is not None and native.unmodelled and native.format not in self.wires:
            field = native.unmodelled[0]
            return f"{field!r} (only a model served over the {native.format} API can take it)", field
        return None


@dataclass(slots=True)
class ProviderContext:
    """Shared resources handed to providers: one pooled HTTP session for all upstream calls, and
    the environment their API keys are read from when they start."""

    http: aiohttp.ClientSession
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)


class Provider:
    capabilities: ClassVar[Capabilities] = Capabilities()
    # The kind's `options` (a subclass of ProviderOptions: strict, unknown keys refused).
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions

    def __init__(self, config: DeploymentConfig, ctx: ProviderContext) -> None:
        """Raises pydantic's ValidationError for bad `options` (Router.build names the path)."""
        self.config = config
        self.ctx = ctx
        self.options = self.Options.model_validate(config.options)
        self.api_key: str | None = None  # read from `api_key_env` by activate()

    @classmethod
    def validate(cls, config: DeploymentConfig) -> str | None:
        """A config problem this provider can see before start-up (naming the field), or None."""
        return None

    async def activate(self) -> None:
        """Read the API key from the environment, then start(): what the gateway calls."""
        name = self.config.api_key_env
        if name is not None:
            self.api_key = self.ctx.env.get(name) or None
            if self.api_key is None:
                raise ConfigError(
                    f"model {self.config.id!r}: field 'api_key_env': environment variable {name} is not set"
                )
        await self.start()

    def stream(self, request: ChatRequest) -> AsyncIterator[Event | list[Event]]:
        """Yield canonical events for one answer. Required."""
        raise NotImplementedError

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        raise GatewayError(
            "invalid_request", f"model {request.model!r} does not support embeddings", param="model"
        )

    async def count_tokens(self, request: ChatRequest) -> int | None:
        """The request's input tokens as the model counts them; None when the provider cannot
        count exactly (the gateway then estimates). Optional."""
        return None

    async def check(self) -> str | None:
        """Reachability for `multimodel models`: None when reachable, else a short reason."""
        return None

    async def start(self) -> None:
        """Load what the provider needs (weights, ...) before serving. Optional."""

    async def close(self) -> None:
        """Release what `start` took. Optional."""
