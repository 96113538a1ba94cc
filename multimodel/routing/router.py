"""Public model name -> route (config + provider instance). Later: strategies, fallbacks, breakers."""

from __future__ import annotations

from dataclasses import dataclass

from multimodel.errors import ConfigError, GatewayError
from multimodel.providers.base import Provider, ProviderContext
from multimodel.providers.registry import provider_class
from multimodel.settings import ModelConfig, Settings


@dataclass(slots=True)
class Route:
    config: ModelConfig
    provider: Provider


class Router:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self._available = ", ".join(routes)

    @classmethod
    def build(cls, settings: Settings, ctx: ProviderContext) -> Router:
        """Instantiate every configured provider; config problems raise one-line ConfigErrors."""
        routes: dict[str, Route] = {}
        for m in settings.models:
            klass = provider_class(m.provider)
            problem = klass.validate(m)
            if problem:
                raise ConfigError(f"{settings.source}: model {m.name!r}: {problem}")
            routes[m.name] = Route(m, klass(m, ctx))
        return cls(routes)

    def resolve(self, name: str) -> Route:
        route = self.routes.get(name)
        if route is None:
            raise GatewayError(
                "not_found",
                f"The model {name!r} does not exist. Available models: {self._available}",
                param="model",
            )
        return route
