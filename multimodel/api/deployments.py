"""GET /v1/deployments: each public model's deployments with their live routing state (requests
in flight, recent latency, circuit breaker), as this gateway process sees them. With API keys in
use, for admin keys only."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.openai import error_response
from multimodel.auth.middleware import key_of
from multimodel.errors import GatewayError
from multimodel.gateway import Gateway
from multimodel.routing.deployment import Deployment
from multimodel.routing.router import Route as ModelRoute


def describe(route: ModelRoute, now: float) -> dict[str, Any]:
    p = route.policy
    return {
        "model": route.name,
        "strategy": p.strategy,
        "fallbacks": list(p.fallbacks),
        "fallback_on": sorted(p.fallback_on),
        "retries": {
            "attempts": p.retries.attempts,
            "backoff_s": p.retries.backoff_s,
            "max_backoff_s": p.retries.max_backoff_s,
        },
        "deadline_s": p.deadline_s,
        "deployments": [_deployment(d, now) for d in route.deployments],
    }


def _deployment(d: Deployment, now: float) -> dict[str, Any]:
    latency = d.latency.mean(now)
    b = d.breaker
    return {
        "id": d.id,
        "provider": d.config.provider,
        "model": d.config.model,
        "weight": d.weight,
        "in_flight": d.in_flight,
        "latency_ms": None if latency is None else round(latency, 1),
        "circuit": None
        if b is None
        else {
            "state": b.state(now),
            "recent_failures": b.recent_failures(now),
            "retry_in_s": round(b.retry_in(now), 3),
            "opened": b.opened,
            "closed": b.closed,
            "failures": b.config.failures,
            "window_s": b.config.window_s,
            "cooldown_s": b.config.cooldown_s,
        },
    }


async def list_deployments(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    now = time.monotonic()
    key = key_of(request)
    if key is not None and not key.admin:
        # Operations data; and a deployment's requests in flight would name an arena battle's models.
        return error_response(
            GatewayError("permission", "GET /v1/deployments needs an admin key", code="admin_only"), None
        )
    data = [
        describe(r, now)
        for r in gw.router.routes.values()
        if key is None or key.models is None or r.name in key.models  # a limited key: its models
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


routes = [Route("/v1/deployments", list_deployments, methods=["GET"])]
