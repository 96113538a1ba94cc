"""Typed reads of upstream answers. A value of the wrong type is the upstream's fault: the parsers
turn `Malformed` (and the lookup and type errors of a wrong shape) into a 502, never a 500 later on."""

from __future__ import annotations

from typing import Any

# Token counts past this are nonsense, and the JSON we render must stay within 64-bit integers.
MAX_COUNT = 2**53

# What a wrong shape raises while a parser walks it: a missing key or index, a wrong type.
SHAPE_ERRORS = (LookupError, TypeError, AttributeError, ValueError)


class Malformed(ValueError):
    pass


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise Malformed("expected a string")
    return v


def opt_text(v: Any) -> str | None:
    return None if v is None else text(v)


def obj(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise Malformed("expected an object")
    return v


def count(v: Any) -> int:
    """A token count: absent is 0; an integral float is accepted, as some servers send them."""
    if v is None:
        return 0
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < MAX_COUNT:
        raise Malformed("expected a token count")
    return v


def opt_obj(v: Any) -> dict[str, Any]:
    """An optional object (a usage's details): absent or null is empty."""
    return {} if v is None else obj(v)


def part(v: Any, whole: int) -> int:
    """A token count that is part of `whole` (the cached tokens of the input), capped at it: an
    upstream that counts more has miscounted, and the answer it gave is still good."""
    return min(count(v), whole)
