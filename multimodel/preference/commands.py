"""CLI commands of the preference engine: leaderboard · feedback export."""

from __future__ import annotations

import json
from typing import cast

import click

from multimodel.clikit import config_option, die, open_database
from multimodel.preference.battles import FORMATS as BATTLE_FORMATS
from multimodel.preference.battles import Format


def _anchor(value: str | None) -> tuple[str, float] | None:
    if value is None:
        return None
    model, sep, rating = value.rpartition("=")
    if not sep or not model:
        die(f"--anchor {value!r}: expected MODEL=RATING")
    try:
        return model, float(rating)
    except ValueError:
        die(f"--anchor {value!r}: RATING must be a number")


@click.command()
@click.option(
    "--battles",
    "battles_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A Chatbot Arena battles file (JSON, JSON Lines or CSV); default: the gateway's database.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--category", default=None, help="Only the battles (and feedback) of this category.")
@click.option(
    "--anchor", default=None, metavar="MODEL=RATING", help="Pin one model's rating (else mean 1000)."
)
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Bootstrap rounds (default 1000).")
@config_option
def leaderboard(
    battles_file: str | None,
    fmt: str,
    category: str | None,
    anchor: str | None,
    rounds: int | None,
    config: str | None,
) -> None:
    """Ratings with 95% intervals and ranks (Bradley–Terry), plus satisfaction from feedback."""
    from multimodel.preference.battles import BattlesFileError, read_battles
    from multimodel.preference.board import board_from_db, compute_board
    from multimodel.preference.leaderboard import to_csv
    from multimodel.preference.pairs import aggregate

    pin = _anchor(anchor)
    try:
        if battles_file is not None:
            battles = read_battles(battles_file).battles
            if category is not None:
                battles = [b for b in battles if b.category == category]
            board = compute_board(aggregate(battles), category=category, rounds=rounds or 1000, anchor=pin)
        else:
            settings, engine = open_database(config)
            try:
                board = board_from_db(
                    engine, category, rounds or settings.preference.bootstrap_rounds, anchor=pin
                )
            finally:
                engine.dispose()
    except (BattlesFileError, ValueError) as e:
        die(str(e))
    if fmt == "json":
        click.echo(json.dumps(board.as_json(), indent=2))
    elif fmt == "csv":
        click.echo(to_csv(board.rows), nl=False)
    else:
        click.echo(board.as_table(), nl=False)
    if board.note is not None and fmt != "json":
        click.echo(f"multimodel: no ratings: {board.note}", err=True)


@click.group()
def feedback() -> None:
    """Arena votes and feedback in the database."""


@feedback.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(BATTLE_FORMATS),
    default=None,
    help="Default: from the file's extension, else jsonl.",
)
@config_option
def export(out: str, fmt: str | None, config: str | None) -> None:
    """Write the arena votes as a Chatbot Arena battles file (model_a, model_b, winner, category),
    which `multimodel leaderboard --battles` and the Arena's own notebooks read."""
    from multimodel.preference.battles import write_battles
    from multimodel.preference.store import voted_battles

    _, engine = open_database(config)
    try:
        battles = list(voted_battles(engine))
    finally:
        engine.dispose()
    write_battles(battles, out, cast("Format | None", fmt))
    click.echo(f"wrote {len(battles)} battles to {out}", err=True)


@feedback.command("import")
@click.argument("battles_file", type=click.Path(dir_okay=False, exists=True))
@config_option
def import_(battles_file: str, config: str | None) -> None:
    """Add the votes of a Chatbot Arena battles file (JSON, JSON Lines or CSV) to the database, so
    that the leaderboard and the `auto` route count them. Importing the same file again adds nothing."""
    import hashlib
    import time
    from pathlib import Path

    from multimodel.preference.battles import BattlesFileError, read_battles
    from multimodel.preference.store import import_battles

    try:
        battles = read_battles(battles_file).battles
    except BattlesFileError as e:
        die(str(e))
    source = hashlib.sha256(Path(battles_file).read_bytes()).hexdigest()[:16]
    _, engine = open_database(config)
    try:
        added = import_battles(engine, battles, source, time.time())
    finally:
        engine.dispose()
    click.echo(f"imported {added} battles ({len(battles) - added} were already there)", err=True)


COMMANDS = [leaderboard, feedback]
