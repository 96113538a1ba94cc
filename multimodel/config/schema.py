"""The config file's schema: frozen, strictly typed classes for the whole of `multimodel.yaml`, with
every default written once, here.

Strict means what a YAML file says is what the gateway does: no string is read as a boolean or a
number (`log_content: "false"` is an error, not `true`), an unknown key is an error that suggests
the closest known one, and every error is one line naming its path (`models[2].weight`). Validation
is pydantic's (v2, strict mode, `extra="forbid"`): the convention of this ecosystem (the OpenAI
and Anthropic SDKs, FastAPI), and what the published JSON Schema is generated from
(multimodel.config_schema).

This module is the bottom of the package: it imports nothing from it. What needs the registries
that live above it (provider names and each provider kind's `options`, strategy names) is checked
where those registries are, in `Router.build`; secrets (`api_key_env`) are read when a provider
starts, so commands that only need the database run with no provider key set.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

DEFAULT_DATABASE = "sqlite:///multimodel.db"
DEFAULT_CONFIG_FILE = "multimodel.yaml"
DEFAULT_STRATEGY = "weighted"

# Why an upstream call failed, as retries and fallbacks see it (the `fallback_on` vocabulary).
Condition = Literal["rate_limit", "server_error", "overloaded", "timeout", "connection", "context_length"]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)


class ConfigError(Exception):
    """A configuration problem, reported at start-up as one line."""


class Strict(BaseModel):
    """A config section: frozen, no coercion, no unknown keys (the closest known key suggested)."""

    # Attribute docstrings become the JSON Schema's descriptions (an editor shows them).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    raise unknown_key(key, cls.model_fields)
        return data


def unknown_key(key: object, known: Iterable[str]) -> PydanticCustomError:
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
    return PydanticCustomError("unknown_key", "unknown key '{key}'{hint}", {"key": str(key), "hint": hint})


_HTTP = r"^https?://\S+$"
_REDIS = r"^rediss?://\S+$"
_DATABASE = r"^(sqlite|postgresql)(\+\w+)?://"
_ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PATTERNS = {
    _HTTP: "an http:// or https:// URL",
    _REDIS: "a redis:// or rediss:// URL",
    _DATABASE: "a sqlite:/// or postgresql:// URL",
    _ENV_VAR: "an environment variable's name",
}
Name = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
HttpUrl = Annotated[str, Field(pattern=_HTTP)]
EnvVar = Annotated[str, Field(pattern=_ENV_VAR)]


class ProviderOptions(Strict):
    """A provider kind's `options`: each provider class declares its subclass as `Options` (plugins
    too), and `Router.build` checks a deployment's options against its provider's."""


class Tokens(Protocol):
    """An answer's token counts as pricing reads them (multimodel.types.Usage, a usage row): the
    cache reads and writes are parts of the input, reasoning is part of the output."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...


class Price(Strict):
    """USD per million tokens."""

    input_per_mtok: NonNegative = 0.0
    """USD per million input tokens."""
    output_per_mtok: NonNegative = 0.0
    """USD per million output tokens (reasoning tokens are output tokens)."""
    cache_read_per_mtok: NonNegative | None = None
    """USD per million input tokens read from the provider's prompt cache; unset: the input price."""
    cache_write_per_mtok: NonNegative | None = None
    """USD per million input tokens written to the provider's prompt cache; unset: the input price."""

    def cost(self, tokens: Tokens) -> float:
        read, written = tokens.cache_read_tokens, tokens.cache_write_tokens
        uncached = max(0, tokens.input_tokens - read - written)
        cache_read = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        cache_write = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        return (
            uncached * self.input_per_mtok
            + read * cache_read
            + written * cache_write
            + tokens.output_tokens * self.output_per_mtok
        ) / 1e6

    @property
    def per_mtok(self) -> float:
        """Input + output: what `auto.max_price_per_mtok` and the lowest_cost strategy compare."""
        return self.input_per_mtok + self.output_per_mtok


class Timeouts(Strict):
    """Seconds."""

    connect: Positive = 10.0
    first_byte: Positive = 60.0
    """Until the upstream's response headers."""
    total: Positive = 600.0
    """The whole upstream call, to its last byte."""


class Retries(Strict):
    """Retries of a failed upstream call, with exponential backoff and jitter."""

    attempts: Annotated[int, Field(ge=0, le=10)] = 0
    """Tries after the first has failed (0: never)."""
    backoff_s: NonNegative = 0.5
    """The first wait; doubled each time, with jitter."""
    max_backoff_s: NonNegative = 8.0
    """The longest wait, also for a `retry-after` (longer: fall back)."""

    @model_validator(mode="after")
    def _ordered(self) -> Retries:
        if self.max_backoff_s < self.backoff_s:
            raise ValueError("max_backoff_s must be at least backoff_s")
        return self


class Breaker(Strict):
    """A circuit breaker per deployment."""

    failures: Annotated[int, Field(ge=1)] = 5
    """After this many failures of a deployment within `window_s` ..."""
    window_s: Positive = 30.0
    """Seconds over which failures count."""
    cooldown_s: Positive = 30.0
    """... it rests this long (seconds), then one request probes it."""


class DeploymentConfig(Strict):
    """One upstream serving a public model: what each provider instance receives."""

    id: Name
    """Unique within its model; a model written without `deployments` has one, its name."""
    provider: Name
    """A registered provider kind (checked by Router.build)."""
    model: Name
    """The upstream's model id (inhouse: a model directory)."""
    api_base: HttpUrl | None = None
    """The upstream's base URL, when not the provider kind's default (proxies, Azure, tests)."""
    api_key_env: EnvVar | None = None
    """The environment variable holding the upstream's key (never the key itself); read at start-up."""
    price: Price | None = None
    """USD per million tokens; unpriced: cost is not counted."""
    timeouts: Timeouts = Timeouts()
    options: dict[str, Any] = {}
    """The provider kind's own settings (each kind declares its keys)."""
    weight: NonNegative = 1.0
    """Share of the traffic under the `weighted` strategy."""

    @property
    def base(self) -> str | None:
        return self.api_base.rstrip("/") if self.api_base else None


DEPLOYMENT_KEYS = tuple(k for k in DeploymentConfig.model_fields if k != "id")


class Policy(Strict):
    """A public model's reliability policy: which deployment answers (strategy), what happens when
    one fails (retries, fallbacks), how long a request may take. All opt-in: without these fields
    a model is one deployment, one upstream call per request, no breaker."""

    strategy: Name = DEFAULT_STRATEGY
    """A registered strategy (checked by Router.build)."""
    fallbacks: tuple[Name, ...] = ()
    """Other public models, tried in order."""
    fallback_on: tuple[Condition, ...] = CONDITIONS
    """The failures that move a request to the fallbacks."""
    retries: Retries = Retries()
    deadline_s: Positive | None = None
    """The whole request: every attempt, wait and fallback."""
    breaker: Breaker | None = None
    """Off unless set."""


POLICY_KEYS = tuple(Policy.model_fields)


class ModelConfig(Strict):
    """One public model: the id clients send, its deployments, its policy.

    A model with one upstream is written flat (`provider`, `model`, ... beside `name`); that is read
    as one deployment whose id is the model's name. Otherwise `deployments` lists them.
    """

    name: Name
    """The id clients send."""
    deployments: Annotated[tuple[DeploymentConfig, ...], Field(min_length=1)]
    """The upstreams serving it, chosen per request by `strategy`."""
    policy: Policy = Policy()

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Flat deployment fields -> one deployment; policy fields -> `policy`; ids filled in."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        known = {"name", "deployments", *DEPLOYMENT_KEYS, *POLICY_KEYS}
        for key in data:
            if key not in known:
                raise unknown_key(key, known)
        if "policy" in data:  # the file writes the policy's fields flat, beside the name
            raise unknown_key("policy", known)
        name = data.get("name")
        flat = {k: data.pop(k) for k in DEPLOYMENT_KEYS if k in data}
        if "deployments" not in data:
            data["deployments"] = ({"id": name, **flat} if isinstance(name, str) else flat,)
        elif flat:
            raise PydanticCustomError(
                "inline_deployment",
                "'{key}' belongs inside each of 'deployments'",
                {"key": sorted(flat)[0]},
            )
        elif isinstance(data["deployments"], tuple) and isinstance(name, str):
            data["deployments"] = tuple(
                {"id": f"{name}#{j + 1}", **d} if isinstance(d, dict) and "id" not in d else d
                for j, d in enumerate(data["deployments"])
            )
        data["policy"] = {k: data.pop(k) for k in POLICY_KEYS if k in data}
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        ids = [d.id for d in self.deployments]
        if len(set(ids)) != len(ids):
            raise ValueError("two deployments have the same id")
        if self.name in self.policy.fallbacks:
            raise ValueError("'fallbacks' lists the model itself")
        if len(set(self.policy.fallbacks)) != len(self.policy.fallbacks):
            raise ValueError("'fallbacks' lists a model twice")
        return self

    @property
    def first(self) -> DeploymentConfig:
        return self.deployments[0]

    @property
    def price(self) -> Price | None:
        """The first deployment's price (the model's, for `auto`'s price cap)."""
        return self.first.price


class AutoSettings(Strict):
    """The `auto` route: one candidate per request, by Thompson sampling over the arena ratings."""

    name: Name = "auto"
    """The public name clients send."""
    candidates: Annotated[tuple[Name, ...], Field(min_length=1)]
    """The models it chooses among."""
    floor: Annotated[float, Field(ge=0, le=1)] = 0.05
    """Each candidate's minimum share of the picks."""
    max_price_per_mtok: NonNegative | None = None
    """Skip candidates whose price (input + output USD per million tokens) is above this; unpriced pass."""
    refresh_seconds: Positive = 30.0
    """How often the ratings are re-read from the database."""


class PreferenceSettings(Strict):
    """Feedback, the arena and the leaderboard."""

    arena_pool: Annotated[tuple[Name, ...], Field(min_length=2)] | None = None
    """The arena's models; unset: every model."""
    auto: AutoSettings | None = None
    """No `auto` route unless configured."""
    votes_per_user_per_day: Annotated[int, Field(ge=1)] = 200
    """Per (API key, user); callers without a user id share one cap per key."""
    battles_per_user_per_day: Annotated[int, Field(ge=1)] = 1000
    """Per (API key, user), as votes."""
    votes_per_key_per_day: Annotated[int, Field(ge=1)] = 1000
    """Per API key, whatever `user` says; without keys, for all callers together."""
    battles_per_key_per_day: Annotated[int, Field(ge=1)] = 5000
    """Per API key, as votes."""
    max_battle_age_hours: Positive = 24.0
    """A battle takes its vote within this many hours."""
    bootstrap_rounds: Annotated[int, Field(ge=1)] = 1000
    """Rounds of the leaderboard's bootstrap confidence intervals."""

    @property
    def refresh_seconds(self) -> float:
        """How often the standings are refitted: auto's setting, else its default."""
        return (self.auto or AutoSettings(candidates=("-",))).refresh_seconds


class AuthSettings(Strict):
    """Gateway API keys (`multimodel keys create`): off by default so the embedded defaults run as is."""

    require_keys: bool = False
    """Every /v1/ endpoint needs a gateway key."""
    refresh_seconds: Positive = 10.0
    """How often the keys and their spend are re-read (a revoked key stops working within this)."""
    redis_url: Annotated[str, Field(pattern=_REDIS)] | None = None
    """redis://host:port/db: rate limits shared by every replica; unset: each replica counts its own."""


class Settings(Strict):
    """The whole config file."""

    database: Annotated[str, Field(pattern=_DATABASE)] = DEFAULT_DATABASE
    """sqlite:///FILE, or postgresql://user@host:5432/db for several replicas."""
    log_content: bool = True
    """Keep prompts and answers in the usage log."""
    log_content_max_bytes: Annotated[int, Field(ge=0)] = 1_000_000
    """A stored prompt or answer is cut to this many bytes of UTF-8, with a note saying so."""
    host: Name = "127.0.0.1"
    """The address `multimodel serve` listens on."""
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    """The port `multimodel serve` listens on (0: any free port)."""
    log_queue_size: Annotated[int, Field(ge=1)] = 100_000
    """Usage-log writer: the most rows held in memory while the database is slow or down."""
    client_header_timeout_s: Annotated[float, Field(ge=0.1)] = 30.0
    """A request's headers must arrive within this many seconds of its first byte (or of the
    connection); else 408 and the connection is closed."""
    client_body_timeout_s: Annotated[float, Field(ge=0.1)] = 60.0
    """A request's body may pause no longer than this (seconds); else 408."""
    shutdown_grace_s: Annotated[int, Field(ge=0)] = 30
    """On SIGTERM: how long requests in flight may take to finish before they are cut (503)."""
    models: Annotated[tuple[ModelConfig, ...], Field(min_length=1)]
    """The public models."""
    preference: PreferenceSettings = PreferenceSettings()
    auth: AuthSettings = AuthSettings()
    _source: str = PrivateAttr(default="config")

    @model_validator(mode="after")
    def _references(self) -> Settings:
        names = [m.name for m in self.models]
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise _at(("models", i, "name"), f"model name {name!r} is used twice")
            seen.add(name)
        for i, m in enumerate(self.models):
            for f in m.policy.fallbacks:
                if f not in seen:
                    raise _at(("models", i, "fallbacks"), f"unknown model {f!r}")
        pool = self.preference.arena_pool
        for n in pool or ():
            if n not in seen:
                raise _at(("preference", "arena_pool"), f"unknown model {n!r}")
        if pool is not None and len(set(pool)) != len(pool):
            raise _at(("preference", "arena_pool"), "lists a model twice")
        auto = self.preference.auto
        if auto is not None:
            self._check_auto(auto, seen)
        return self

    def _check_auto(self, auto: AutoSettings, names: set[str]) -> None:
        where = ("preference", "auto")
        if auto.name in names:
            raise _at((*where, "name"), f"{auto.name!r} is already a model's name")
        for c in auto.candidates:
            if c not in names:
                raise _at((*where, "candidates"), f"unknown model {c!r}")
        if len(set(auto.candidates)) != len(auto.candidates):
            raise _at((*where, "candidates"), "lists a model twice")
        eligible = self.auto_candidates
        if not eligible:
            raise _at(
                (*where, "max_price_per_mtok"),
                f"every candidate costs more than {auto.max_price_per_mtok} per million tokens",
            )
        if auto.floor * len(eligible) > 1:
            raise _at((*where, "floor"), f"{auto.floor} x {len(eligible)} candidates is more than 1")

    @property
    def source(self) -> str:
        """Where the settings came from (a file's path, or "embedded defaults"), for messages."""
        return self._source

    @functools.cached_property
    def by_name(self) -> dict[str, ModelConfig]:
        return {m.name: m for m in self.models}

    def model(self, name: str) -> ModelConfig | None:
        return self.by_name.get(name)

    @property
    def arena_pool(self) -> tuple[str, ...]:
        """The arena's models: `preference.arena_pool`, else every model."""
        return self.preference.arena_pool or tuple(m.name for m in self.models)

    @property
    def auto_candidates(self) -> tuple[str, ...]:
        """`auto`'s candidates within its price cap (unpriced models pass)."""
        auto = self.preference.auto
        if auto is None:
            return ()
        cap = auto.max_price_per_mtok
        return tuple(
            c
            for c in auto.candidates
            if cap is None or (p := self.by_name[c].price) is None or p.per_mtok <= cap
        )


class _AtError(ValueError):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _at(loc: tuple[str | int, ...], message: str) -> _AtError:
    """A cross-field error that names its own path (pydantic would name the whole file)."""
    return _AtError(loc, message)


def parse(raw: Any, source: str = "config") -> Settings:
    """The settings from a parsed YAML document; a ConfigError of one line naming the path."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'models' list")
    try:
        settings = Settings.model_validate(_lists_as_tuples(raw))
    except ValidationError as e:
        raise ConfigError(f"{source}: {describe(e, raw)}") from None
    settings._source = source
    return settings


def describe(e: ValidationError, raw: Any, base: str = "", named: str = "") -> str:
    """The first error of a validation, as one line: `path: what is wrong (got VALUE)`. `raw` is
    the validated input (for the path as the file has it); `base` a path it sits at, `named` the
    model it belongs to."""
    err = e.errors(include_url=False)[0]
    inner = err.get("ctx", {}).get("error")
    loc: tuple[str | int, ...] = inner.loc if isinstance(inner, _AtError) else tuple(err["loc"])
    kind, msg = err["type"], str(inner or err["msg"])
    if kind == "missing":
        loc, msg = loc[:-1], f"missing key {loc[-1]!r}"
    path, name = _path(loc, raw)
    path = ".".join(p for p in (base, path) if p).replace(".[", "[") or "the top level"
    name = name or named
    if kind == "unknown_key":
        where = "at the top level" if path == "the top level" else f"in {path}"
        return f"unknown key {err['ctx']['key']!r} {where}{name}{err['ctx']['hint']}"
    if kind == "string_pattern_mismatch":
        msg = "must be " + _PATTERNS.get(str(err.get("ctx", {}).get("pattern")), "of the documented form")
    for old, new in _WORDING:
        msg = re.sub(old, new, msg)
    got = "" if isinstance(inner, _AtError) or kind in _NO_VALUE else _got(err)
    return f"{path}{name}: {msg[:1].lower()}{msg[1:]}{got}"


_NO_VALUE = ("missing", "value_error", "assertion_error", "inline_deployment")
# pydantic's words for Python types -> the words of a YAML file.
_WORDING = (
    (r"^Value error, ", ""),
    (r"valid tuple", "list"),
    (r"valid dictionary( or instance of \w+)?", "mapping"),
    (r"^Tuple should", "List should"),
    (r" after validation,", ","),
)


def _got(err: Any) -> str:
    value = err.get("input")
    if isinstance(value, dict | list | tuple):
        return f" (got a {'mapping' if isinstance(value, dict) else 'list'})"
    text = repr(value)
    return f" (got {text[:60] + '…' if len(text) > 60 else text})"


def _path(loc: Iterable[str | int], raw: Any) -> tuple[str, str]:
    """(`models[2].deployments[0].weight`, ` (model 'm3')`) from a pydantic location, as the user
    wrote the file: a flat model's deployment and policy fields are its own."""
    out, node, named = "", raw, ""
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "policy" and isinstance(node, dict) and "policy" not in node:
            i += 1  # the file writes the policy's fields flat
            continue
        if part == "deployments" and isinstance(node, dict) and "deployments" not in node:
            i += 2  # a flat model: its one deployment's fields are the model's own
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if out == f"models[{part}]" and isinstance(node, dict) and isinstance(node.get("name"), str):
                named = f" (model {node['name']!r})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
        i += 1
    return out, named


def _lists_as_tuples(value: Any) -> Any:
    """YAML lists as tuples, so strict validation takes them for the frozen tuple fields (strict
    mode would refuse a list for a tuple) without loosening anything else."""
    if isinstance(value, list):
        return tuple(_lists_as_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _lists_as_tuples(v) for k, v in value.items()}
    return value
