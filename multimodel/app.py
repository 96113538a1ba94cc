"""create_app(gateway): the ASGI application: routes, error handlers, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from multimodel.api import (
    anthropic,
    arena,
    deployments,
    feedback,
    health,
    leaderboard,
    openai,
    responses,
    usage,
)
from multimodel.api.flow import new_request_id
from multimodel.auth.middleware import KeyMiddleware
from multimodel.errors import GatewayError, echo
from multimodel.gateway import Gateway
from multimodel.ui import routes as ui

log = logging.getLogger("multimodel")


def _error_for(request: Request, err: GatewayError) -> Response:
    """Errors outside a handler (unknown path, wrong method, a bug) in the caller's API format."""
    if request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return anthropic.error_response(err, new_request_id())  # its error shape carries one
    return openai.error_response(err, None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:  # OpenAI's own answer to an unknown URL has this code
        err = GatewayError(
            "not_found", f"unknown request URL: {request.method} {echo(request.url.path)}", code="unknown_url"
        )
    else:
        err = GatewayError("invalid_request", exc.detail, status=exc.status_code)
    return _error_for(request, err)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled %s on %s", exc.__class__.__name__, request.url.path, exc_info=exc)
    return _error_for(request, GatewayError("api_error", "internal error in the gateway"))


def create_app(gateway: Gateway) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()  # no-op when the CLI already started it
        try:
            yield
        finally:
            await gateway.close()  # flushes every pending usage row

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui")

    app = Starlette(
        routes=[
            *openai.routes,
            *responses.routes,
            *anthropic.routes,
            *feedback.routes,
            *arena.routes,
            *leaderboard.routes,
            *deployments.routes,
            *usage.routes,
            *health.routes,
            *ui.routes,
            Route("/", root),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
        # Only when keys are required: a gateway without them pays nothing per request.
        middleware=(
            [Middleware(KeyMiddleware, guard=gateway.keys, render_error=_error_for)]
            if gateway.settings.auth.require_keys
            else []
        ),
    )
    app.state.gateway = gateway
    app.state.leaderboards = leaderboard.BoardCache()
    return app
