"""The YAML config file -> one typed, immutable settings object, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from multimodel.errors import ConfigError
from multimodel.routing.policy import POLICY_KEYS, Policy, parse_policy

DEFAULT_CONFIG_FILE = "multimodel.yaml"
# The embedded default's in-house models (shipped in the repository, made by scripts/make_house_models).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_INHOUSE_DIR = MODELS_DIR / "house-tiny"
HOUSE_MODELS = ("house-mini", "house-tiny")

DEFAULT_REFRESH_S = 30.0  # how often the gateway re-reads the arena votes
DEFAULT_LOG_CONTENT_MAX_BYTES = 1_000_000

_KNOWN_PROVIDERS_HINT = "openai | anthropic | openai-compatible | inhouse (or an installed plugin)"


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 60.0  # until the upstream's response headers
    total: float = 600.0


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One public model. Its own provider fields describe its first (often only) deployment, which
    is also what each provider instance receives: a deployment is a ModelConfig too."""

    name: str  # the public id clients send
    provider: str
    model: str  # upstream model id (inhouse: a model directory)
    api_base: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)  # resolved from api_key_env; never logged
    price: Price | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Provider-specific extras (api_version for Azure, headers, device, ...), plain data.
    options: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0  # share of the traffic under the `weighted` strategy
    deployment: str | None = None  # the deployment's id (`id:`); None: the model's name
    # Every deployment when the entry lists `deployments:`; empty: the entry is the one deployment.
    deployments: tuple[ModelConfig, ...] = ()
    policy: Policy = field(default_factory=Policy)

    @property
    def deployment_id(self) -> str:
        return self.deployment or self.name

    def each_deployment(self) -> tuple[ModelConfig, ...]:
        return self.deployments or (self,)


@dataclass(frozen=True, slots=True)
class AutoSettings:
    """The `auto` route: one candidate per request, by Thompson sampling over the arena ratings."""

    name: str = "auto"
    candidates: tuple[str, ...] = ()
    floor: float = 0.05  # each candidate's minimum share of the picks
    # Skip candidates whose price (input + output USD per million tokens) is above this; unpriced pass.
    max_price_per_mtok: float | None = None
    refresh_seconds: float = DEFAULT_REFRESH_S  # how often the ratings are re-read from the database


@dataclass(frozen=True, slots=True)
class PreferenceSettings:
    arena_pool: tuple[str, ...] = ()  # the arena's models; parse() fills in every model when unset
    auto: AutoSettings | None = None  # no `auto` route unless configured
    # Per (API key, user): callers without a user id share one cap per key.
    votes_per_user_per_day: int = 200
    battles_per_user_per_day: int = 1000
    # Per API key, whatever `user` says; without keys, for all callers together.
    votes_per_key_per_day: int = 1000
    battles_per_key_per_day: int = 5000
    max_battle_age_hours: float = 24.0
    bootstrap_rounds: int = 1000

    @property
    def refresh_seconds(self) -> float:
        return self.auto.refresh_seconds if self.auto is not None else DEFAULT_REFRESH_S


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Gateway API keys (`multimodel keys create`): off by default so the embedded defaults run as is."""

    require_keys: bool = False
    # How often the keys and their spend are re-read (a revoked key stops working within this).
    refresh_seconds: float = 10.0
    # redis://host:port/db: rate limits shared by every replica; unset: each replica counts its own.
    redis_url: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    models: tuple[ModelConfig, ...]
    database: str = "sqlite:///multimodel.db"
    log_content: bool = True
    # A stored prompt or answer is cut to this many bytes of UTF-8, with a note saying so.
    log_content_max_bytes: int = DEFAULT_LOG_CONTENT_MAX_BYTES
    host: str = "127.0.0.1"
    port: int = 8000
    # Usage-log writer: the most rows held in memory while the database is slow or down.
    log_queue_size: int = 100_000
    # Clients: the request's headers must arrive within this many seconds of its first byte (or of
    # the connection); its body may pause no longer than this; 408 and the connection is closed.
    client_header_timeout_s: float = 30.0
    client_body_timeout_s: float = 60.0
    # On SIGTERM: how long requests in flight may take to finish before they are cut (503).
    shutdown_grace_s: int = 30
    source: str = "embedded defaults"
    preference: PreferenceSettings = field(default_factory=PreferenceSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)

    def model(self, name: str) -> ModelConfig | None:
        for m in self.models:
            if m.name == name:
                return m
        return None


def load(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the config: the given file, else ./multimodel.yaml, else the embedded defaults."""
    env = dict(os.environ) if env is None else env
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    if path is None:
        return embedded_defaults(env)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path}: cannot read it ({e.__class__.__name__}: {e})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path}: not valid YAML ({' '.join(str(e).split())})") from None
    return parse(raw, env, source=str(path))


def embedded_defaults(env: dict[str, str]) -> Settings:
    """No config file: the shipped in-house model, SQLite beside the working directory, and the
    OpenAI / Anthropic models whose keys are set in the environment."""
    models: list[dict[str, Any]] = [
        {"name": name, "provider": "inhouse", "model": str(MODELS_DIR / name)}
        for name in HOUSE_MODELS
        if (MODELS_DIR / name).is_dir() or name == "house-tiny"
    ]
    if env.get("OPENAI_API_KEY"):
        models += [
            {"name": n, "provider": "openai", "model": n, "api_key_env": "OPENAI_API_KEY", "price": p}
            for n, p in (
                ("gpt-4o", {"input_per_mtok": 2.5, "output_per_mtok": 10.0}),
                ("gpt-4o-mini", {"input_per_mtok": 0.15, "output_per_mtok": 0.6}),
                ("text-embedding-3-small", {"input_per_mtok": 0.02, "output_per_mtok": 0.0}),
            )
        ]
    if env.get("ANTHROPIC_API_KEY"):
        models += [
            {"name": n, "provider": "anthropic", "model": n, "api_key_env": "ANTHROPIC_API_KEY", "price": p}
            for n, p in (
                ("claude-sonnet-4-5", {"input_per_mtok": 3.0, "output_per_mtok": 15.0}),
                ("claude-haiku-4-5", {"input_per_mtok": 1.0, "output_per_mtok": 5.0}),
            )
        ]
    return parse({"database": "sqlite:///multimodel.db", "models": models}, env, source="embedded defaults")


_TOP_KEYS = {
    "database",
    "models",
    "log_content",
    "log_content_max_bytes",
    "host",
    "port",
    "log_queue_size",
    "client_header_timeout_s",
    "client_body_timeout_s",
    "shutdown_grace_s",
    "preference",
    "auth",
}
_AUTH_KEYS = {"require_keys", "refresh_seconds", "redis_url"}
_PREFERENCE_KEYS = {
    "arena_pool",
    "auto",
    "votes_per_user_per_day",
    "battles_per_user_per_day",
    "votes_per_key_per_day",
    "battles_per_key_per_day",
    "max_battle_age_hours",
    "bootstrap_rounds",
}
_AUTO_KEYS = {"name", "candidates", "floor", "max_price_per_mtok", "refresh_seconds"}
_DEPLOYMENT_KEYS = {
    "provider",
    "model",
    "api_base",
    "api_key_env",
    "price",
    "timeouts",
    "options",
    "weight",
}
_MODEL_KEYS = {"name", "deployments", *_DEPLOYMENT_KEYS, *POLICY_KEYS}


def parse(raw: Any, env: dict[str, str], source: str = "config") -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'models' list")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})"
        )
    models_raw = raw.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError(f"{source}: 'models' must be a non-empty list")
    models: list[ModelConfig] = []
    for i, m in enumerate(models_raw):
        models.append(_parse_model(m, i, env, source))
    names = [m.name for m in models]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{source}: model {sorted(dup)[0]!r}: field 'name' is used twice")
    _check_fallbacks(models, source)
    database = raw.get("database", "sqlite:///multimodel.db")
    if not isinstance(database, str) or not database.startswith(("sqlite", "postgresql")):
        raise ConfigError(f"{source}: field 'database' must be a sqlite:/// or postgresql:// URL")
    port = raw.get("port", 8000)
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"{source}: field 'port' must be an integer port number")
    return Settings(
        models=tuple(models),
        database=database,
        log_content=bool(raw.get("log_content", True)),
        log_content_max_bytes=int(
            _number(raw, "log_content_max_bytes", DEFAULT_LOG_CONTENT_MAX_BYTES, 0, source, integer=True)
        ),
        host=str(raw.get("host", "127.0.0.1")),
        port=port,
        log_queue_size=int(raw.get("log_queue_size", 100_000)),
        client_header_timeout_s=_number(raw, "client_header_timeout_s", 30.0, 0.1, source),
        client_body_timeout_s=_number(raw, "client_body_timeout_s", 60.0, 0.1, source),
        shutdown_grace_s=int(_number(raw, "shutdown_grace_s", 30, 0, source, integer=True)),
        source=source,
        preference=_parse_preference(raw.get("preference"), models, source),
        auth=_parse_auth(raw.get("auth"), source),
    )


def _section(raw: Any, known: set[str], where: str) -> dict[str, Any]:
    """A top-level section: a mapping of known fields (absent: empty)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    return raw


def _parse_auth(raw: Any, source: str) -> AuthSettings:
    where = f"{source}: auth"
    raw = _section(raw, _AUTH_KEYS, where)
    require = raw.get("require_keys", False)
    if not isinstance(require, bool):
        raise ConfigError(f"{where}: field 'require_keys' must be true or false")
    refresh = _number(raw, "refresh_seconds", AuthSettings().refresh_seconds, 0, where)
    if refresh <= 0:
        raise ConfigError(f"{where}: field 'refresh_seconds' must be above 0")
    redis_url = raw.get("redis_url")
    if redis_url is not None and (
        not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://"))
    ):
        raise ConfigError(f"{where}: field 'redis_url' must be a redis:// or rediss:// URL")
    return AuthSettings(require_keys=require, refresh_seconds=refresh, redis_url=redis_url)


def _parse_preference(raw: Any, models: list[ModelConfig], source: str) -> PreferenceSettings:
    where = f"{source}: preference"
    raw = _section(raw, _PREFERENCE_KEYS, where)
    by_name = {m.name: m for m in models}
    pool = _model_list(raw, "arena_pool", by_name, where) if "arena_pool" in raw else tuple(by_name)
    if "arena_pool" in raw and len(pool) < 2:
        raise ConfigError(f"{where}: field 'arena_pool' needs at least two models")
    defaults = PreferenceSettings()
    if raw.get("max_battle_age_hours") == 0:
        raise ConfigError(f"{where}: field 'max_battle_age_hours' must be above 0")
    return PreferenceSettings(
        arena_pool=pool,
        auto=_parse_auto(raw["auto"], by_name, where) if raw.get("auto") is not None else None,
        votes_per_user_per_day=int(
            _number(raw, "votes_per_user_per_day", defaults.votes_per_user_per_day, 1, where, integer=True)
        ),
        battles_per_user_per_day=int(
            _number(
                raw, "battles_per_user_per_day", defaults.battles_per_user_per_day, 1, where, integer=True
            )
        ),
        votes_per_key_per_day=int(
            _number(raw, "votes_per_key_per_day", defaults.votes_per_key_per_day, 1, where, integer=True)
        ),
        battles_per_key_per_day=int(
            _number(raw, "battles_per_key_per_day", defaults.battles_per_key_per_day, 1, where, integer=True)
        ),
        max_battle_age_hours=_number(raw, "max_battle_age_hours", defaults.max_battle_age_hours, 0, where),
        bootstrap_rounds=int(
            _number(raw, "bootstrap_rounds", defaults.bootstrap_rounds, 1, where, integer=True)
        ),
    )


def _parse_auto(raw: Any, by_name: dict[str, ModelConfig], where: str) -> AutoSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: field 'auto' must be a mapping")
    unknown = set(raw) - _AUTO_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown field 'auto.{sorted(unknown)[0]}'")
    name = raw.get("name", "auto")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: field 'auto.name' must be a non-empty string")
    if name in by_name:
        raise ConfigError(f"{where}: field 'auto.name': {name!r} is already a model's name")
    defaults = AutoSettings()
    cap = raw.get("max_price_per_mtok")
    if cap is not None:
        cap = _number(raw, "max_price_per_mtok", 0.0, 0, where, label="auto.max_price_per_mtok")
    auto = AutoSettings(
        name=name,
        candidates=_model_list(raw, "candidates", by_name, where, label="auto.candidates"),
        floor=_number(raw, "floor", defaults.floor, 0, where, hi=1, label="auto.floor"),
        max_price_per_mtok=cap,
        refresh_seconds=_number(
            raw, "refresh_seconds", defaults.refresh_seconds, 0, where, label="auto.refresh_seconds"
        ),
    )
    eligible = auto_candidates(auto, by_name.values())
    if not eligible:
        raise ConfigError(
            f"{where}: field 'auto.max_price_per_mtok': every candidate costs more than {cap} per million tokens"
        )
    if auto.floor * len(eligible) > 1:
        raise ConfigError(
            f"{where}: field 'auto.floor': {auto.floor} x {len(eligible)} candidates is more than 1"
        )
    if auto.refresh_seconds <= 0:
        raise ConfigError(f"{where}: field 'auto.refresh_seconds' must be above 0")
    return auto


def auto_candidates(auto: AutoSettings, models: Iterable[ModelConfig]) -> tuple[str, ...]:
    """The candidates within the price cap (input + output USD per million tokens; unpriced models pass)."""
    price = {m.name: m.price for m in models}
    if auto.max_price_per_mtok is None:
        return auto.candidates
    return tuple(
        c
        for c in auto.candidates
        if (p := price.get(c)) is None or p.input_per_mtok + p.output_per_mtok <= auto.max_price_per_mtok
    )


def _model_list(
    raw: dict[str, Any], key: str, by_name: dict[str, ModelConfig], where: str, label: str | None = None
) -> tuple[str, ...]:
    label = label or key
    names = raw.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: field {label!r} must be a non-empty list of model names")
    for n in names:
        if n not in by_name:
            raise ConfigError(f"{where}: field {label!r}: unknown model {n!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: field {label!r} lists a model twice")
    return tuple(names)


def _number(
    raw: dict[str, Any],
    key: str,
    default: float,
    lo: float,
    where: str,
    *,
    hi: float | None = None,
    integer: bool = False,
    label: str | None = None,
) -> float:
    label = label or key
    v = raw.get(key, default)
    kind = "an integer" if integer else "a number"
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
        raise ConfigError(f"{where}: field {label!r} must be {kind}")
    if v < lo or (hi is not None and v > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{where}: field {label!r} must be {kind} {bound}")
    return float(v)


def _parse_model(m: Any, i: int, env: dict[str, str], source: str) -> ModelConfig:
    if not isinstance(m, dict):
        raise ConfigError(f"{source}: models[{i}] must be a mapping")
    label = f"model {m.get('name')!r}" if isinstance(m.get("name"), str) else f"models[{i}]"
    where = f"{source}: {label}"
    if not isinstance(m.get("name"), str) or not m["name"]:
        raise ConfigError(f"{where}: missing field 'name'")
    unknown = set(m) - _MODEL_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    policy = parse_policy(m, where)
    if "deployments" not in m:
        return replace(_parse_deployment(m, m["name"], None, env, where), policy=policy)
    mixed = sorted(set(m) & _DEPLOYMENT_KEYS)
    if mixed:
        raise ConfigError(f"{where}: field {mixed[0]!r} belongs inside each of 'deployments'")
    raw = m["deployments"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: field 'deployments' must be a non-empty list")
    deployments = []
    for j, d in enumerate(raw):
        here = f"{where}: deployments[{j}]"
        if not isinstance(d, dict):
            raise ConfigError(f"{here} must be a mapping")
        unknown = set(d) - _DEPLOYMENT_KEYS - {"id"}
        if unknown:
            raise ConfigError(f"{here}: unknown field {sorted(unknown)[0]!r}")
        dep_id = d.get("id", f"{m['name']}#{j + 1}")
        if not isinstance(dep_id, str) or not dep_id:
            raise ConfigError(f"{here}: field 'id' must be a non-empty string")
        deployments.append(_parse_deployment(d, m["name"], dep_id, env, here))
    ids = [d.deployment_id for d in deployments]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: field 'deployments': two deployments have the same id")
    return replace(deployments[0], deployments=tuple(deployments), policy=policy)


def _check_fallbacks(models: list[ModelConfig], source: str) -> None:
    names = {m.name for m in models}
    for m in models:
        for f in m.policy.fallbacks:
            if f not in names:
                raise ConfigError(f"{source}: model {m.name!r}: field 'fallbacks': unknown model {f!r}")
            if f == m.name:
                raise ConfigError(f"{source}: model {m.name!r}: field 'fallbacks' lists the model itself")


def _parse_deployment(
    m: dict[str, Any], name: str, dep_id: str | None, env: dict[str, str], where: str
) -> ModelConfig:
    """One deployment's fields (a model entry's own, or one of its `deployments`)."""
    for key in ("provider", "model"):
        if not isinstance(m.get(key), str) or not m[key]:
            raise ConfigError(f"{where}: missing field {key!r}")
    from multimodel.providers.registry import provider_names

    if m["provider"] not in provider_names():
        raise ConfigError(
            f"{where}: field 'provider': unknown provider {m['provider']!r} ({_KNOWN_PROVIDERS_HINT})"
        )
    api_key = None
    key_env = m.get("api_key_env")
    if key_env is not None:
        if not isinstance(key_env, str):
            raise ConfigError(f"{where}: field 'api_key_env' must be an environment variable name")
        api_key = env.get(key_env)
        if not api_key:
            raise ConfigError(f"{where}: field 'api_key_env': environment variable {key_env} is not set")
    price = None
    if m.get("price") is not None:
        p = m["price"]
        try:
            price = Price(float(p.get("input_per_mtok", 0)), float(p.get("output_per_mtok", 0)))
        except (AttributeError, TypeError, ValueError):
            raise ConfigError(
                f"{where}: field 'price' must be {{input_per_mtok: N, output_per_mtok: N}}"
            ) from None
    timeouts = Timeouts()
    if m.get("timeouts") is not None:
        t = m["timeouts"]
        try:
            timeouts = Timeouts(**{k: float(v) for k, v in t.items()})
        except (AttributeError, TypeError, ValueError):
            raise ConfigError(
                f"{where}: field 'timeouts' must be {{connect: S, first_byte: S, total: S}}"
            ) from None
    options = m.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: field 'options' must be a mapping")
    api_base = m.get("api_base")
    if api_base is not None and (
        not isinstance(api_base, str) or not api_base.startswith(("http://", "https://"))
    ):
        raise ConfigError(f"{where}: field 'api_base' must be an http(s) URL")
    weight = m.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise ConfigError(f"{where}: field 'weight' must be a number at least 0")
    return ModelConfig(
        name=name,
        provider=m["provider"],
        model=m["model"],
        api_base=api_base.rstrip("/") if api_base else None,
        api_key_env=key_env,
        api_key=api_key,
        price=price,
        timeouts=timeouts,
        options=options,
        weight=float(weight),
        deployment=dep_id,
    )
