"""Anthropic: the Messages API (x-api-key + anthropic-version headers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar

from pydantic import Field

from multimodel.config.schema import ProviderOptions
from multimodel.errors import GatewayError
from multimodel.formats import anthropic_upstream as wire
from multimodel.providers import http
from multimodel.providers.base import Capabilities, Provider
from multimodel.types import ChatRequest, Event, NativeChunk

API_VERSION = "2023-06-01"  # the documented version; see the spec notes on SDK 2.x's newer value


class AnthropicOptions(ProviderOptions):
    version: str = API_VERSION  # the anthropic-version header
    headers: dict[str, str] = Field(default_factory=dict)  # sent with every upstream call
    # max_tokens is required by Anthropic; this is sent when the client gave none (OpenAI clients).
    default_max_tokens: Annotated[int, Field(ge=1)] = 4096


class AnthropicProvider(Provider):
    capabilities: ClassVar[Capabilities] = Capabilities(
        tools=True, vision=True, embeddings=False, wires=("anthropic",)
    )
    Options: ClassVar[type[ProviderOptions]] = AnthropicOptions
    options: AnthropicOptions
    default_base = "https://api.anthropic.com"

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json", "anthropic-version": self.options.version}
        if self.api_key:
            h["x-api-key"] = self.api_key
        h.update(self.options.headers)
        return h

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event | list[Event]]:
        body = wire.build_body(
            request,
            self.config.model,
            default_max_tokens=self.options.default_max_tokens,
        )
        # The client spoke this API: its request went as written, with its betas; its answer is
        # passed on as the upstream gave it (NativeChunk).
        native = request.native is not None and request.native.sent_to("anthropic")
        resp = await self._post("/v1/messages", body, request)
        if not request.stream:
            data = await http.read_json(resp)
            events = wire.parse_response(data)
            yield [*events, NativeChunk("anthropic", data)] if native else events
            return
        parser = wire.EventParser()
        async for batch in http.iter_sse(resp):
            events = []
            for name, data in batch:
                event = http.sse_json(data)
                kind = event.get("type") if isinstance(event, dict) else None
                if native and kind not in ("message_stop", "error"):  # the encoder ends it
                    events.append(NativeChunk("anthropic", event, name))
                events += parser.feed(name, event)
                if parser.done:
                    break
            if events:
                yield events
            if parser.done:
                return
        raise GatewayError("upstream", "upstream stream ended before message_stop")

    async def count_tokens(self, request: ChatRequest) -> int:
        """Anthropic's own count (POST /v1/messages/count_tokens): the client's request as written
        when it spoke this API, with its betas."""
        body = wire.count_body(wire.build_body(request, self.config.model, default_max_tokens=1))
        resp = await self._post("/v1/messages/count_tokens", body, request)
        return wire.parse_count(await http.read_json(resp))

    async def _post(self, path: str, body: dict[str, Any], request: ChatRequest) -> Any:
        """POST to the upstream; a request in this API also passes on its betas (headers, query)."""
        headers, params = self.headers(), None
        native = request.native
        if native is not None and native.sent_to("anthropic"):
            headers |= native.headers
            params = native.query or None
        url = f"{self.config.base or self.default_base}{path}"
        return await http.post(
            self.ctx.http, url, body, headers, self.config.timeouts, wire.error_from, params
        )

    async def check(self) -> str | None:
        url = f"{self.config.base or self.default_base}/v1/models"
        try:
            async with self.ctx.http.get(
                url, headers=self.headers(), timeout=http.client_timeout(self.config.timeouts)
            ) as resp:
                return None if resp.status < 400 else f"HTTP {resp.status}"
        except Exception as e:
            return e.__class__.__name__
