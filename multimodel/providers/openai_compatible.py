"""Any server that speaks the OpenAI Chat Completions API: vLLM, Ollama, llama.cpp's server,
Together, Mistral, ... and Azure OpenAI (deployment URLs, `api-key` header, `api-version` query).

Capabilities differ between servers, so they come from `options` (data, not branches):
  options: {tools: true, vision: false, embeddings: true, max_tokens_field: max_tokens,
            stream_usage: true, api_version: 2024-10-21 (Azure), headers: {...}}
"""

from __future__ import annotations

from multimodel.providers.base import Capabilities
from multimodel.providers.openai import OpenAIProvider
from multimodel.settings import ModelConfig


class OpenAICompatibleProvider(OpenAIProvider):
    max_tokens_field = "max_tokens"

    @classmethod
    def validate(cls, config: ModelConfig) -> str | None:
        return None if config.api_base else "field 'api_base' is required for an openai-compatible model"

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        o = self.config.options
        return Capabilities(
            tools=o.get("tools", True), vision=o.get("vision", True), embeddings=o.get("embeddings", True)
        )

    @property
    def azure(self) -> bool:
        return "api_version" in self.config.options

    def headers(self) -> dict[str, str]:
        h = super().headers()
        if self.azure and self.config.api_key:
            del h["authorization"]
            h["api-key"] = self.config.api_key
        return h

    def url(self, endpoint: str) -> tuple[str, dict[str, str] | None]:
        if self.azure:
            version = str(self.config.options["api_version"])
            return f"{self.base}/openai/deployments/{self.config.model}/{endpoint}", {"api-version": version}
        return f"{self.base}/{endpoint}", None
