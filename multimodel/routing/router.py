"""Public model name -> route (config + provider instance), or the `auto` alias -> one candidate's
route per request. Later: strategies, fallbacks, breakers."""

from __future__ import annotations

from dataclasses import dataclass

from multimodel.errors import ConfigError, GatewayError
from multimodel.providers.base import Provider, ProviderContext
from multimodel.providers.registry import provider_class
from multimodel.routing.auto import AutoRoute
from multimodel.settings import ModelConfig, Settings


@dataclass(slots=True)
class Route:
    config: ModelConfig
    provider: Provider


class Router:
    def __init__(self, routes: dict[str, Route], auto: AutoRoute | None = None) -> None:
        self.routes = routes
        self.auto = auto
        self._available = ", ".join(self.names)

    @property
    def names(self) -> list[str]:
        """Every public name: the models, then the `auto` alias if configured."""
        return [*self.routes, *([self.auto.name] if self.auto else [])]

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
        return cls(routes, AutoRoute.from_settings(settings))

    def resolve(self, name: str) -> Route:
        """The route answering `name`; for the `auto` alias a candidate's (so route.config.name
        can differ from `name`)."""
        route = self.routes.get(name)
        if route is None:
            if self.auto is not None and name == self.auto.name:
                return self.routes[self.auto.pick()]
            raise self.not_found(name)
        return route

    def not_found(self, name: str) -> GatewayError:
        return GatewayError(
            "not_found",
            f"The model {name!r} does not exist. Available models: {self._available}",
            param="model",
        )
