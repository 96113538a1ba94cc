"""Small validators for request bodies: each error names the offending field."""

from __future__ import annotations

from typing import Any

from multimodel.errors import invalid


def req_str(body: dict[str, Any], key: str, where: str = "") -> str:
    v = body.get(key)
    if not isinstance(v, str) or not v:
        raise invalid(f"'{where}{key}' is required and must be a non-empty string", where + key)
    return v


def opt_str(body: dict[str, Any], key: str, where: str = "") -> str | None:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise invalid(f"'{where}{key}' must be a string", where + key)
    return v


def opt_bool(body: dict[str, Any], key: str, where: str = "") -> bool | None:
    v = body.get(key)
    if v is not None and not isinstance(v, bool):
        raise invalid(f"'{where}{key}' must be a boolean", where + key)
    return v


def opt_int(body: dict[str, Any], key: str, lo: int | None = None, where: str = "") -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise invalid(f"'{where}{key}' must be an integer", where + key)
    if lo is not None and v < lo:
        raise invalid(f"'{where}{key}' must be at least {lo}, got {v}", where + key)
    return v


def opt_num(body: dict[str, Any], key: str, lo: float, hi: float, where: str = "") -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise invalid(f"'{where}{key}' must be a number", where + key)
    if not lo <= v <= hi:
        raise invalid(f"'{where}{key}' must be between {lo} and {hi}, got {v}", where + key)
    return float(v)


def req_list(body: dict[str, Any], key: str, where: str = "") -> list[Any]:
    v = body.get(key)
    if not isinstance(v, list) or not v:
        raise invalid(f"'{where}{key}' is required and must be a non-empty array", where + key)
    return v


def opt_list(body: dict[str, Any], key: str, where: str = "") -> list[Any]:
    v = body.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise invalid(f"'{where}{key}' must be an array", where + key)
    return v


def obj(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise invalid(f"'{where}' must be an object", where)
    return v


def stop_list(v: Any, key: str, max_items: int | None = None) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise invalid(f"'{key}' must be a string or an array of strings", key)
    if max_items is not None and len(v) > max_items:
        raise invalid(f"'{key}' may hold at most {max_items} sequences", key)
    return list(v)
