"""Provider registry: `provider:` names -> classes, from the `multimodel.providers` entry points.

The built-in providers are registered through the same entry-point group that third-party
plugins use (see pyproject.toml), so a plugin is one installable package, no edit here.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from multimodel.errors import ConfigError

if TYPE_CHECKING:
    from multimodel.providers.base import Provider

GROUP = "multimodel.providers"

# Built-ins, so that a source checkout without installed metadata still works.
_BUILTIN = {
    "openai": "multimodel.providers.openai:OpenAIProvider",
    "openai-compatible": "multimodel.providers.openai_compatible:OpenAICompatibleProvider",
    "anthropic": "multimodel.providers.anthropic:AnthropicProvider",
    "inhouse": "multimodel.providers.inhouse:InhouseProvider",
}


@cache
def _targets() -> dict[str, str]:
    targets = dict(_BUILTIN)
    for ep in entry_points(group=GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def provider_names() -> list[str]:
    """Every provider kind: the built-ins and the installed plugins'."""
    return sorted(_targets())


def builtin_names() -> list[str]:
    return sorted(_BUILTIN)


def provider_class(name: str) -> type[Provider]:
    target = _targets().get(name)
    if target is None:
        raise ConfigError(f"unknown provider {name!r}")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"provider {name!r} ({target}) cannot be loaded: {e}") from None
    return cls
