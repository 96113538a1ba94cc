"""Public model name -> route: the model's deployments (each with its provider instance and
in-memory state), its strategy and its resolved fallbacks; or the `auto` alias -> one
candidate's route per request. routing/attempts.py runs a request along a route."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field

from pydantic import ValidationError

from multimodel.config.schema import ConfigError, ModelConfig, Policy, Settings, describe
from multimodel.errors import GatewayError, echo
from multimodel.providers.base import Provider, ProviderContext
from multimodel.providers.registry import provider_class, provider_names
from multimodel.routing.auto import AutoRoute
from multimodel.routing.breaker import CircuitBreaker
from multimodel.routing.deployment import Deployment
from multimodel.routing.strategies import STRATEGIES, State, Strategy


@dataclass(eq=False, slots=True)
class Route:
    config: ModelConfig  # the public model
    provider: Provider  # the first deployment's (embeddings, capabilities, `multimodel chat`)
    deployments: tuple[Deployment, ...] = ()
    fallbacks: tuple[Route, ...] = ()  # resolved from config.policy.fallbacks, in order
    strategy: Strategy = STRATEGIES["weighted"]
    state: State = field(default_factory=State)  # shared by all routes: the clock and the rng

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def policy(self) -> Policy:
        return self.config.policy


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
    def build(cls, settings: Settings, ctx: ProviderContext, rng: random.Random | None = None) -> Router:
        """Instantiate every deployment's provider. What the schema leaves to the registries (the
        provider and strategy names, each provider kind's options) is checked here: a problem is a
        one-line ConfigError naming its path."""
        state = State(rng=rng or random.Random())
        routes: dict[str, Route] = {}
        for i, m in enumerate(settings.models):
            if m.policy.strategy not in STRATEGIES:
                raise ConfigError(
                    f"{settings.source}: models[{i}].strategy (model {m.name!r}): unknown strategy "
                    f"{m.policy.strategy!r} (known: {', '.join(STRATEGIES)})"
                )
            deployments = []
            for j, d in enumerate(m.deployments):
                provider = _provider(settings, i, j, ctx)
                breaker = CircuitBreaker(m.policy.breaker) if m.policy.breaker else None
                deployments.append(Deployment(d, provider, breaker))
            routes[m.name] = Route(
                m, deployments[0].provider, tuple(deployments), (), STRATEGIES[m.policy.strategy], state
            )
        for route in routes.values():
            route.fallbacks = tuple(routes[f] for f in route.policy.fallbacks)
        return cls(routes, AutoRoute.from_settings(settings))

    def providers(self) -> list[Provider]:
        """Every deployment's provider, for start-up and shutdown."""
        return [d.provider for r in self.routes.values() for d in r.deployments]

    def resolve(self, name: str, allowed: Collection[str] | None = None) -> Route:
        """The route answering `name`; for the `auto` alias a candidate's (so route.config.name
        can differ from `name`). `allowed`: see not_found."""
        route = self.routes.get(name)
        if route is None:
            if self.auto is not None and name == self.auto.name:
                return self.routes[self.auto.pick()]
            raise self.not_found(name, allowed)
        return route

    def not_found(self, name: str, allowed: Collection[str] | None = None) -> GatewayError:
        """`allowed`: the names the caller may use (a model-limited API key); the message lists
        only those of them that exist, never a model the caller cannot see."""
        available = (
            self._available if allowed is None else ", ".join(n for n in self.names if n in allowed) or "none"
        )
        return GatewayError(
            "not_found",
            f"The model {echo(name)} does not exist. Available models: {available}",
            param="model",
            code="model_not_found",
        )


def _provider(settings: Settings, i: int, j: int, ctx: ProviderContext) -> Provider:
    """Deployment j of model i's provider instance, or a ConfigError naming the path as the file
    has it (a model written flat is its one deployment)."""
    m = settings.models[i]
    d = m.deployments[j]
    flat = len(m.deployments) == 1 and d.id == m.name
    path = f"models[{i}]" + ("" if flat else f".deployments[{j}]")
    named = f" (model {m.name!r})"
    if d.provider not in provider_names():
        raise ConfigError(
            f"{settings.source}: {path}.provider{named}: unknown provider {d.provider!r} "
            f"(known: {', '.join(provider_names())}, or an installed plugin's)"
        )
    klass = provider_class(d.provider)
    problem = klass.validate(d)
    if problem:
        raise ConfigError(f"{settings.source}: {path}{named}: {problem}")
    try:
        return klass(d, ctx)
    except ValidationError as e:
        raise ConfigError(f"{settings.source}: {describe(e, d.options, path + '.options', named)}") from None
