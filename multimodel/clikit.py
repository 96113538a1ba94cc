"""What every `multimodel` command shares: the --config option and the one-line exit on errors."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

config_option = click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML config file (default: ./multimodel.yaml, else embedded defaults).",
)


def die(message: str) -> NoReturn:
    """Report a user error as one line (no traceback) and exit with status 2."""
    click.echo(f"multimodel: {message}", err=True)
    sys.exit(2)


class _KeysNotNeeded(dict[str, str]):
    """An environment in which every API key variable is set: database commands must not fail for
    a provider key that only the server has."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key) or "not-needed"


def settings_for_db(config: str | None) -> Any:
    """The settings, for a command that only uses the database."""
    from multimodel.errors import ConfigError
    from multimodel.settings import load

    try:
        return load(config, env=_KeysNotNeeded(os.environ))
    except ConfigError as e:
        die(str(e))


def open_database(config: str | None) -> tuple[Any, Any]:
    """(settings, engine) with the schema migrated: a database the gateway has not opened yet is
    simply empty."""
    from multimodel.store import make_engine, upgrade

    settings = settings_for_db(config)
    engine = make_engine(settings.database)
    try:
        upgrade(engine)
    except Exception as e:
        die(f"database: cannot open it ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    return settings, engine
