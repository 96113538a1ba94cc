"""GET /health (the process is alive) and GET /ready (config loaded, database writable, usage
log being written)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from multimodel.gateway import Gateway
from multimodel.store.db import check_writable

# Not ready once the usage log's writes have failed this long without one going through: the
# database may pass check_writable (a full disk, a missing table) and still refuse every batch.
USAGE_LOG_FAILING_S = 5.0


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    problem = await asyncio.to_thread(check_writable, gw.engine)
    writer = gw.writer
    failing_for = writer.failing_for
    log_failing = failing_for >= USAGE_LOG_FAILING_S
    ok = problem is None and not log_failing
    body = {
        "status": "ready" if ok else "not_ready",
        "models": len(gw.router.routes),
        "database": "writable" if problem is None else problem,
        "usage_log": {
            "status": "failing" if log_failing else "ok",
            "pending": writer.pending,
            "dropped": writer.dropped,
            "reduced": writer.reduced,
            "rejected": writer.rejected,
            "failed_writes": writer.failed_writes,
            "failing_for_s": round(failing_for, 1),
        },
    }
    return JSONResponse(body, status_code=200 if ok else 503)


routes = [Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"])]
