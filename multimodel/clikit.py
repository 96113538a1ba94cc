"""What every `multimodel` command shares: the --config option and the one-line exit on errors."""

from __future__ import annotations

import sys
from typing import NoReturn

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
