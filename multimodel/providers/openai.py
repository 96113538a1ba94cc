"""OpenAI: the Chat Completions and Embeddings APIs at api.openai.com (or `api_base`)."""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from multimodel.config.schema import ProviderOptions
from multimodel.errors import GatewayError
from multimodel.formats import openai_responses_upstream as responses_wire
from multimodel.formats import openai_upstream as wire
from multimodel.formats import upstream_values as v
from multimodel.providers import http
from multimodel.providers.base import Capabilities, Provider
from multimodel.types import ChatRequest, EmbedRequest, EmbedResult, Event, NativeChunk


def _error(data: Any, status: int) -> GatewayError:
    return wire.upstream_error(data if isinstance(data, dict) else {"error": {"message": f"HTTP {status}"}})


class OpenAIOptions(ProviderOptions):
    headers: dict[str, str] = Field(default_factory=dict)  # sent with every upstream call
    # Newer OpenAI models accept only max_completion_tokens; many compatible servers only max_tokens.
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    stream_usage: bool = True  # ask for usage in streams (stream_options.include_usage)
    responses_api: bool = True
    """Send Responses API requests to the upstream's own /responses, as written (built-in tools
    and all); false: through chat completions, like any other provider."""


_CHAT = Capabilities(
    structured_output=True, tools=True, vision=True, embeddings=True, reasoning=True, wires=("openai",)
)
_BOTH = Capabilities(
    structured_output=True,
    tools=True,
    vision=True,
    embeddings=True,
    reasoning=True,
    wires=("openai", "responses"),
)


class OpenAIProvider(Provider):
    Options: ClassVar[type[ProviderOptions]] = OpenAIOptions
    options: OpenAIOptions
    default_base = "https://api.openai.com/v1"

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return _BOTH if self.options.responses_api else _CHAT

    @property
    def base(self) -> str:
        return self.config.base or self.default_base

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json"}
        if self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        h.update(self.options.headers)
        return h

    def url(self, endpoint: str) -> tuple[str, dict[str, str] | None]:
        return f"{self.base}/{endpoint}", None

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event | list[Event]]:
        native_responses = request.native is not None and request.native.sent_to("responses")
        if native_responses and "responses" in self.capabilities.wires:
            assert request.native is not None
            async for item in self._responses(
                request.native.body | {"model": self.config.model}, request.stream
            ):
                yield item
            return
        body = wire.build_body(
            request,
            self.config.model,
            max_tokens_field=self.options.max_tokens_field,
            stream_usage=self.options.stream_usage,
        )
        # The client spoke this API: its answer is passed on as the upstream gave it (NativeChunk).
        native = request.native is not None and request.native.sent_to("openai")
        url, params = self.url("chat/completions")
        resp = await http.post(self.ctx.http, url, body, self.headers(), self.config.timeouts, _error, params)
        if not request.stream:
            data = await http.read_json(resp)
            yield (
                [*wire.parse_response(data), NativeChunk("openai", data)]
                if native
                else wire.parse_response(data)
            )
            return
        parser = wire.ChunkParser()
        async for batch in http.iter_sse(resp):
            events: list[Event] = []
            for _, data in batch:
                if data.startswith(b"[DONE]"):
                    yield events + parser.end()
                    return
                chunk = http.sse_json(data)
                if native and isinstance(chunk, dict) and not chunk.get("error"):
                    events.append(NativeChunk("openai", chunk))
                events += parser.feed(chunk)
            if events:
                yield events
        yield parser.end()  # no [DONE]: tolerated, as the SDKs do, when the answer was finished

    async def _responses(self, body: dict[str, Any], stream: bool) -> AsyncIterator[Event | list[Event]]:
        """A Responses request to this upstream's own /responses (some OpenAI models are served only
        there), its answer relayed as it came (NativeChunk) beside the canonical events."""
        url, params = self.url("responses")
        resp = await http.post(self.ctx.http, url, body, self.headers(), self.config.timeouts, _error, params)
        if not stream:
            data = await http.read_json(resp)
            yield [*responses_wire.parse_response(data), NativeChunk("responses", data)]
            return
        parser = responses_wire.EventParser()
        async for batch in http.iter_sse(resp):
            events: list[Event] = []
            for name, data in batch:
                event = http.sse_json(data)
                if isinstance(event, dict):  # before the events parsed from it: the finish ends a stream
                    events.append(NativeChunk("responses", event, name))
                events += parser.feed(event)
                if parser.done:
                    break
            if events:
                yield events
            if parser.done:
                return
        raise GatewayError("upstream", "upstream stream ended before the response was complete")

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        if not self.capabilities.embeddings:
            return await super().embed(request)
        body: dict[str, Any] = {
            "model": self.config.model,
            "input": request.inputs,
            "encoding_format": "base64",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        url, params = self.url("embeddings")
        resp = await http.post(self.ctx.http, url, body, self.headers(), self.config.timeouts, _error, params)
        data = await http.read_json(resp)
        try:
            items = sorted(data["data"], key=lambda d: d["index"])
            vectors = [_vector(d["embedding"]) for d in items]
            tokens = v.count(v.obj(data.get("usage") or {}).get("prompt_tokens"))
        except v.SHAPE_ERRORS:
            raise GatewayError("upstream", "upstream returned a malformed embeddings response") from None
        return EmbedResult(vectors, tokens)

    async def check(self) -> str | None:
        url, params = self.url("models")
        try:
            async with self.ctx.http.get(
                url, headers=self.headers(), params=params, timeout=http.client_timeout(self.config.timeouts)
            ) as resp:
                return None if resp.status < 400 else f"HTTP {resp.status}"
        except Exception as e:
            return e.__class__.__name__


def _vector(v: Any) -> list[float]:
    """An embedding as floats, whether the upstream sent floats or base64 float32 (the SDK default)."""
    if isinstance(v, str):
        a = array("f")
        a.frombytes(base64.b64decode(v))
        if sys.byteorder == "big":
            a.byteswap()
        return a.tolist()
    return [float(x) for x in v]
