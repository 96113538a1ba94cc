"""What the small JSON endpoints (feedback, arena, leaderboard) share: errors in the OpenAI error
shape, JSON bodies, and database calls in a worker thread."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import exc as sa_exc
from starlette.requests import Request
from starlette.responses import Response

from multimodel.api.openai import error_response
from multimodel.errors import ECHO_MAX_CHARS, GatewayError, echo, invalid
from multimodel.store.db import describe_error

log = logging.getLogger("multimodel")

P = ParamSpec("P")
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """A handler whose GatewayErrors answer in the OpenAI error shape."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GatewayError as err:
            return error_response(err, None)

    return wrapped


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def only_fields(body: dict[str, Any], known: Collection[str]) -> None:
    """Reject unknown fields: a typo (`ratting`) must not pass as a request without it."""
    for key in body:
        if key not in known:
            raise invalid(
                f"unknown field {echo(key)} (known: {', '.join(sorted(known))})", key[:ECHO_MAX_CHARS]
            )


def opt_user(body: dict[str, Any], key: str = "user", max_len: int = 256) -> str | None:
    v = body.get(key)
    if v is not None and (not isinstance(v, str) or not v or len(v) > max_len):
        raise invalid(f"'{key}' must be a non-empty string of at most {max_len} characters", key)
    return v


async def in_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a database function in a worker thread; a database failure answers 503."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except sa_exc.SQLAlchemyError as e:
        log.warning("database: %s failed (%s)", getattr(fn, "__name__", "call"), describe_error(e))
        raise GatewayError("overloaded", "the database is unavailable; try again", status=503) from None
