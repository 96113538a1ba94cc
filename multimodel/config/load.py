"""Where the settings come from: a YAML file (`--config`, else `$MULTIMODEL_CONFIG`, else
./multimodel.yaml), else the embedded defaults; then the environment's `MULTIMODEL_*` variables,
which win over the file.

Each scalar setting at the top level or in a section has a variable: `MULTIMODEL_<KEY>` for the top
level (`MULTIMODEL_DATABASE`, `MULTIMODEL_PORT`, ...) and `MULTIMODEL_<SECTION>__<KEY>` inside a
section (`MULTIMODEL_AUTH__REQUIRE_KEYS`). A value is read as strictly as the file: a string
setting takes the text as it is, any other the text as a JSON value (`true`, `8000`, `0.5`, `null`),
so `MULTIMODEL_LOG_CONTENT=no` is an error, not a yes. An unknown `MULTIMODEL_*` variable is an
error too (with the closest known name), except `MULTIMODEL_CONFIG` and `MULTIMODEL_API_KEY` (the
key `multimodel chat` sends).
"""

from __future__ import annotations

import difflib
import json
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from multimodel.config.schema import (
    DEFAULT_CONFIG_FILE,
    DEFAULT_DATABASE,
    ConfigError,
    Settings,
    describe,
    parse,
)

# The embedded defaults' in-house models (shipped in the repository, made by scripts/make_house_models).
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
HOUSE_MODELS = ("house-mini", "house-tiny")

PREFIX = "MULTIMODEL_"
CONFIG_VAR = "MULTIMODEL_CONFIG"
NOT_SETTINGS = {CONFIG_VAR, "MULTIMODEL_API_KEY"}


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The settings: the given file, else $MULTIMODEL_CONFIG, else ./multimodel.yaml, else the
    embedded defaults; `MULTIMODEL_*` variables over them."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_VAR) or None
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    if path is None:
        raw, source = embedded_defaults(env), "embedded defaults"
    else:
        raw, source = read_file(path), str(path)
    return parse(with_environment(raw, env), source)


def read_file(path: str | os.PathLike[str]) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path}: cannot read it ({e.__class__.__name__}: {e})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path}: not valid YAML ({' '.join(str(e).split())})") from None


def embedded_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    """No config file: the shipped in-house models, SQLite beside the working directory, and the
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
    return {"database": DEFAULT_DATABASE, "models": models}


def environment_variables() -> dict[str, tuple[str, ...]]:
    """Every settings variable and the path it sets: {"MULTIMODEL_PORT": ("port",), ...}."""
    out: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        section = _model_class(field.annotation)
        if section is not None:
            for key, inner in section.model_fields.items():
                if _scalar(inner.annotation):
                    out[f"{PREFIX}{name.upper()}__{key.upper()}"] = (name, key)
        elif _scalar(field.annotation):
            out[PREFIX + name.upper()] = (name,)
    return out


def with_environment(raw: Any, env: Mapping[str, str]) -> Any:
    """The file's settings with the environment's `MULTIMODEL_*` variables written over them."""
    known = environment_variables()
    found = {k: v for k, v in env.items() if k.startswith(PREFIX) and k not in NOT_SETTINGS}
    if not found or not isinstance(raw, dict):
        return raw
    raw = dict(raw)
    for var, text in sorted(found.items()):
        path = known.get(var)
        if path is None:
            close = difflib.get_close_matches(var, [*known, *NOT_SETTINGS], n=1, cutoff=0.7)
            hint = f"; did you mean {close[0]}?" if close else " (see `multimodel config env`)"
            raise ConfigError(f"environment variable {var}: no such setting{hint}")
        value = _env_value(var, text, path)
        if len(path) == 1:
            raw[path[0]] = value
        else:
            section = raw.get(path[0])
            raw[path[0]] = {**(section if isinstance(section, dict) else {}), path[1]: value}
    return raw


def _env_value(var: str, text: str, path: tuple[str, ...]) -> Any:
    """The variable's value, checked against its field as strictly as the file's would be."""
    cls: type[BaseModel] = Settings
    for part in path[:-1]:
        cls = _model_class(cls.model_fields[part].annotation) or cls
    field = cls.model_fields[path[-1]]
    value: Any = text
    if str not in _types(field.annotation):
        try:
            value = json.loads(text)
        except ValueError:
            value = text  # strict validation below names the expected type
    typed: Any = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(typed, config=ConfigDict(strict=True))
    try:
        return adapter.validate_python(value)
    except ValidationError as e:
        raise ConfigError(f"environment variable {var}: {describe(e, None).split(': ', 1)[-1]}") from None


def _types(annotation: Any) -> tuple[Any, ...]:
    """The types of a field's annotation, unwrapping Optional, Union and Annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return tuple(t for a in get_args(annotation) for t in _types(a))
    return (annotation,)


def _scalar(annotation: Any) -> bool:
    return all(t in (str, int, float, bool, type(None)) for t in _types(annotation))


def _model_class(annotation: Any) -> type[BaseModel] | None:
    for t in _types(annotation):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None
