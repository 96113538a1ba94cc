"""GET /health (the process is alive) and GET /ready (config loaded, database writable)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from multimodel.gateway import Gateway
from multimodel.store.db import check_writable


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    problem = await asyncio.to_thread(check_writable, gw.engine)
    body = {
        "status": "ready" if problem is None else "not_ready",
        "models": len(gw.router.routes),
        "database": "writable" if problem is None else problem,
        "usage_log": {"pending": gw.writer.pending, "dropped": gw.writer.dropped},
    }
    return JSONResponse(body, status_code=200 if problem is None else 503)


routes = [Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"])]
