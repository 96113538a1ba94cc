"""Battles: one pairwise vote, and the Chatbot Arena battles file format (JSON, JSON Lines, CSV).

A battles file holds rows with `model_a`, `model_b`, `winner` (one of WINNERS) and an optional
`category`; any other field (Arena dumps carry many) is ignored. Bad rows are rejected with a
one-line error naming the file and the line (JSON Lines, CSV) or item (JSON array); with
`strict=False` they are skipped instead and listed in `ReadResult.skipped`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import orjson  # a core dependency; parses a 1.7M-row Arena dump several times faster than json

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
WINNERS: tuple[Winner, ...] = get_args(Winner)
Format = Literal["json", "jsonl", "csv"]
FORMATS: tuple[Format, ...] = get_args(Format)

_EXTENSIONS: dict[str, Format] = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_FIELDS = ("model_a", "model_b", "winner")


@dataclass(frozen=True, slots=True)
class Battle:
    model_a: str
    model_b: str
    winner: Winner
    category: str | None = None

    def __post_init__(self) -> None:
        # Validated here so that a Battle built anywhere (file, database, arena) is a valid vote.
        for name in (self.model_a, self.model_b):
            if not isinstance(name, str) or not name:
                raise ValueError(f"model names must be non-empty strings, got {name!r}")
        if self.model_a == self.model_b:
            raise ValueError(f"model_a and model_b are the same model ({self.model_a!r})")
        if self.winner not in WINNERS:
            expected = ", ".join(WINNERS)
            raise ValueError(f"unknown winner {self.winner!r} (expected one of: {expected})")
        if self.category is not None and not isinstance(self.category, str):
            raise ValueError(f"category must be a string, got {self.category!r}")


class BattlesFileError(ValueError):
    """A battles file that cannot be read, or a bad row in strict mode. The message is one line."""


@dataclass(slots=True)
class ReadResult:
    battles: list[Battle]
    skipped: list[str] = field(default_factory=list)  # one message per skipped row (strict=False)


class _RowError(ValueError):
    pass


def detect_format(path: str | Path) -> Format:
    """By extension; `.json` and unknown extensions are sniffed, since JSON Lines is often named .json."""
    path = Path(path)
    by_ext = _EXTENSIONS.get(path.suffix.lower())
    if by_ext in ("jsonl", "csv"):
        return by_ext
    with path.open(encoding="utf-8") as f:
        head = f.read(4096).lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    if by_ext == "json":
        raise BattlesFileError(f"{path}: not a JSON array or JSON Lines file")
    return "csv"


def read_battles(path: str | Path, fmt: Format | None = None, *, strict: bool = True) -> ReadResult:
    """Read a battles file (format from `fmt`, else detected). Strict: the first bad row raises
    BattlesFileError; not strict: bad rows are skipped and listed in `skipped`."""
    path = Path(path)
    try:
        return _read(path, fmt or detect_format(path), strict)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise BattlesFileError(f"{path}: cannot read: {reason}") from None


def _read(path: Path, fmt: Format, strict: bool) -> ReadResult:
    if fmt not in FORMATS:
        raise BattlesFileError(f"{path}: unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    rows = {"json": _json_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}[fmt](path)
    unit = "item" if fmt == "json" else "line"
    result = ReadResult([])
    for number, row in rows:
        try:
            result.battles.append(_battle(row))
        except _RowError as e:
            message = f"{path}: {unit} {number}: {e}"
            if strict:
                raise BattlesFileError(message) from None
            result.skipped.append(message)
    return result


def write_battles(battles: Iterable[Battle], path: str | Path, fmt: Format | None = None) -> None:
    """Write in the Arena format; `category` is written only when set (JSON) or as an empty cell (CSV)."""
    path = Path(path)
    fmt = fmt or _EXTENSIONS.get(path.suffix.lower()) or "jsonl"
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([*_FIELDS, "category"])
            for b in battles:
                writer.writerow([b.model_a, b.model_b, b.winner, b.category or ""])
        return
    lines = (orjson.dumps(_as_dict(b)) for b in battles)
    with path.open("wb") as f:
        if fmt == "jsonl":
            f.writelines(line + b"\n" for line in lines)
        else:
            f.write(b"[\n" + b",\n".join(lines) + b"\n]\n")


def _as_dict(b: Battle) -> dict[str, str]:
    d = {"model_a": b.model_a, "model_b": b.model_b, "winner": b.winner}
    if b.category is not None:
        d["category"] = b.category
    return d


def _battle(row: Any) -> Battle:
    try:
        category = row.get("category")
        return Battle(row["model_a"], row["model_b"], row["winner"], category if category != "" else None)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise _RowError(_problem(row, e)) from None


def _problem(row: Any, error: Exception) -> str:
    """What is wrong with a row that did not make a Battle, in words."""
    if isinstance(row, _RowError):
        return str(row)
    if not isinstance(row, dict):
        return f"expected an object with {', '.join(_FIELDS)}, got {type(row).__name__}"
    missing = [k for k in _FIELDS if row.get(k) in (None, "")]
    if missing:
        return f"missing field {', '.join(missing)}"
    return str(error)


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise BattlesFileError(f"{path}: line {e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(data, list):
        raise BattlesFileError(f"{path}: expected a JSON array of battles, got {type(data).__name__}")
    # The parser keeps no line numbers per item; the 1-based item index is as precise.
    yield from enumerate(data, 1)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, orjson.loads(line)
            except orjson.JSONDecodeError as e:
                # A broken line is a bad row like any other: skippable when not strict.
                yield n, _RowError(f"not valid JSON: {e.msg}")


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [k for k in _FIELDS if k not in header]
        if missing:
            raise BattlesFileError(f"{path}: line 1: CSV header lacks column {', '.join(missing)}")
        for row in reader:
            # line_num is the physical line the row ended on, which is what an editor shows.
            yield reader.line_num, row
