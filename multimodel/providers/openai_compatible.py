"""Any server that speaks the OpenAI Chat Completions API: vLLM, Ollama, llama.cpp's server,
Together, Mistral, ... and Azure OpenAI (deployment URLs, `api-key` header, `api-version` query).

Capabilities differ between servers, so they come from `options` (data, not branches):
  options: {tools: true, vision: false, embeddings: true, max_tokens_field: max_tokens,
            stream_usage: true, api_version: 2024-10-21 (Azure), headers: {...}}
"""

from __future__ import annotations

from typing import ClassVar, Literal

from multimodel.config.schema import DeploymentConfig, ProviderOptions
from multimodel.providers.base import Capabilities
from multimodel.providers.openai import OpenAIOptions, OpenAIProvider


class OpenAICompatibleOptions(OpenAIOptions):
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_tokens"
    responses_api: bool = False  # most compatible servers have no /responses
    tools: bool = True
    vision: bool = True
    embeddings: bool = True
    structured_output: bool = True
    """Honours response_format (vLLM, llama.cpp's server and Ollama do)."""
    api_version: str | None = None  # Azure OpenAI: deployment URLs, `api-key` header, this query


class OpenAICompatibleProvider(OpenAIProvider):
    Options: ClassVar[type[ProviderOptions]] = OpenAICompatibleOptions
    options: OpenAICompatibleOptions

    @classmethod
    def validate(cls, config: DeploymentConfig) -> str | None:
        return None if config.api_base else "field 'api_base' is required for an openai-compatible model"

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        o = self.options
        return Capabilities(
            tools=o.tools,
            vision=o.vision,
            embeddings=o.embeddings,
            structured_output=o.structured_output,
            wires=("openai",),
        )

    def headers(self) -> dict[str, str]:
        h = super().headers()
        if self.options.api_version is not None and self.api_key:
            del h["authorization"]
            h["api-key"] = self.api_key
        return h

    def url(self, endpoint: str) -> tuple[str, dict[str, str] | None]:
        version = self.options.api_version
        if version is not None:
            return f"{self.base}/openai/deployments/{self.config.model}/{endpoint}", {"api-version": version}
        return f"{self.base}/{endpoint}", None
