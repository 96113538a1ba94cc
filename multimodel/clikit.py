"""What every `multimodel` command shares: the --config option and the one-line exit on errors."""

from __future__ import annotations

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


def settings_for_db(config: str | None) -> Any:
    """The settings, for a command that only uses the database (no provider key is read)."""
    from multimodel.config.load import load
    from multimodel.config.schema import ConfigError

    try:
        return load(config)
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
