"""The ASGI layer that asks every /v1/ request for a gateway API key (installed only when
`auth.require_keys` is on, so a gateway without keys pays nothing). The admitted key rides in the
ASGI scope for the handlers: the usage row, feedback and arena ownership checks read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from multimodel.auth.guard import KeyGuard
from multimodel.auth.keys import KeyRecord
from multimodel.errors import GatewayError

SCOPE_KEY = "multimodel.key"
PROTECTED_PREFIX = "/v1/"


def key_of(scope_holder: Request | dict[str, Any]) -> KeyRecord | None:
    """The admitted key of a request; None when keys are not required."""
    scope = scope_holder.scope if isinstance(scope_holder, Request) else scope_holder
    key: KeyRecord | None = scope.get(SCOPE_KEY)
    return key


def presented_secret(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key from `Authorization: Bearer` (OpenAI clients) or `x-api-key` (Anthropic clients)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value:
            return value.decode("latin-1").strip()
    return None


class KeyMiddleware:
    def __init__(
        self, app: ASGIApp, guard: KeyGuard, render_error: Callable[[Request, GatewayError], Response]
    ) -> None:
        self.app = app
        self.guard = guard
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            try:
                scope[SCOPE_KEY] = await self.guard.admit(presented_secret(scope["headers"]))
            except GatewayError as err:
                await self.render_error(Request(scope), err)(scope, receive, send)
                return
        await self.app(scope, receive, send)
