"""CLI: multimodel config check · show · schema · env."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import click
import yaml

from multimodel.clikit import config_option, die
from multimodel.config.json_schema import generate
from multimodel.config.load import environment_variables, load
from multimodel.config.schema import ConfigError, Settings
from multimodel.providers.base import ProviderContext
from multimodel.routing.router import Router

MASK = "***"


@click.group()
def config() -> None:
    """Check and show the configuration."""


@config.command("check")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check(config_file: str) -> None:
    """Validate CONFIG_FILE as the gateway would read it (with MULTIMODEL_* variables over it),
    without starting anything or reading any key."""
    settings, _ = _checked(config_file)
    deployments = sum(len(m.deployments) for m in settings.models)
    click.echo(f"{config_file}: ok ({len(settings.models)} models, {deployments} deployments)")
    for i, m in enumerate(settings.models):
        for d in m.deployments:
            if d.api_key_env and not os.environ.get(d.api_key_env):
                click.echo(
                    f"note: models[{i}] ({m.name!r}): {d.api_key_env} is not set here; "
                    "the gateway needs it where it runs",
                    err=True,
                )


@config.command("show")
@config_option
def show(config: str | None) -> None:
    """Print the effective config, every default filled in, as YAML (secrets masked)."""
    settings, router = _checked(config)
    click.echo(f"# {settings.source}" + _env_note())
    text = yaml.safe_dump(file_form(settings, router), sort_keys=False, allow_unicode=True)
    click.echo(text, nl=False)


@config.command("schema")
@click.option("--builtin-only", is_flag=True, help="Only the built-in provider kinds (the shipped copy).")
def schema(builtin_only: bool) -> None:
    """Print the config's JSON Schema (with installed plugins' provider kinds)."""
    click.echo(json.dumps(generate(plugins=not builtin_only), indent=2))


@config.command("env")
def env() -> None:
    """List the MULTIMODEL_* variables and the settings they set (they win over the file)."""
    for var, path in environment_variables().items():
        click.echo(f"{var:<50} {'.'.join(path)}")


def _checked(config: str | None) -> tuple[Settings, Router]:
    """Settings that the gateway would start with, as far as can be known without starting it."""
    try:
        settings = load(config)
        # Provider kinds, their options and strategies live in registries the schema cannot see.
        router = Router.build(settings, ProviderContext(http=None))  # type: ignore[arg-type]
    except ConfigError as e:
        die(str(e))
    return settings, router


def _env_note() -> str:
    names = sorted(set(environment_variables()) & set(os.environ))
    return f" (environment: {', '.join(names)})" if names else ""


def file_form(settings: Settings, router: Router) -> dict[str, Any]:
    """The settings in the file's own shape (each model's policy beside its name; `deployments`
    listed; each provider's options with their defaults), so `config show` prints a file that
    `config check` accepts; secrets masked."""
    out = settings.model_dump(mode="json")
    out["database"] = _mask_url(out["database"])
    if out["auth"]["redis_url"]:
        out["auth"]["redis_url"] = _mask_url(out["auth"]["redis_url"])
    for m in out["models"]:
        m.update(m.pop("policy"))
        route = router.routes[m["name"]]
        for d, deployment in zip(m["deployments"], route.deployments, strict=True):
            d["options"] = deployment.provider.options.model_dump(mode="json")
            headers = d["options"].get("headers")
            if isinstance(headers, dict):  # may carry an upstream's key
                d["options"]["headers"] = dict.fromkeys(headers, MASK)
    return out


def _mask_url(url: str) -> str:
    """A URL without its password (`postgresql://user:***@host/db`)."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", rf"\g<1>{MASK}@", url)


COMMANDS = [config]
