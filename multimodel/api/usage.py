"""GET /v1/usage/summary?range=1h|6h|24h|7d|30d: the usage log summed up for the dashboard.

    {"object": "usage.summary", "range", "start", "end", "bucket_seconds",
     "totals": {"requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                "cache_write_tokens", "reasoning_tokens", "cost_usd", "cache_hit_share"},
     "models": [{"model", "provider", <totals>, "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "ttft_p95_ms"}],
     "providers": [{"provider", <totals>, <timings>}],
     "buckets": [{"start", <totals>, <timings>, "models": {name: <totals>}}],   every bucket, oldest first
     "errors": [{"type", "count"}],
     "latency_sample": rows the timings come from}

With API keys in use, a key sees its own requests only, unless it is an admin key. Arena answers
show once their battle has a vote or is closed (`preference.max_battle_age_hours`), to every key
alike: before that, their cost and tokens would name the battle's models (multimodel.store.stats).
Token counts mean what multimodel.types.Usage says: the cache reads and writes are parts of the
input tokens, reasoning is part of the output; `cache_hit_share` is cache reads / input tokens
(null without input). Timings are over successful requests only (an error answered in a
millisecond is not a fast answer); a failed request counts in `errors` and in `requests`.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.common import endpoint, in_db, json_response
from multimodel.auth.middleware import key_of
from multimodel.errors import invalid
from multimodel.gateway import Gateway
from multimodel.store.stats import Window, summary

# range -> (seconds, bucket seconds): 12 to 30 buckets each.
RANGES = {
    "1h": (3600, 300),
    "6h": (6 * 3600, 900),
    "24h": (86_400, 3600),
    "7d": (7 * 86_400, 6 * 3600),
    "30d": (30 * 86_400, 86_400),
}


@endpoint
async def usage_summary(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    name = request.query_params.get("range", "24h")
    if name not in RANGES:
        raise invalid(f"'range' must be one of {', '.join(RANGES)}", "range")
    window = Window.ending(time.time(), *RANGES[name])
    key = key_of(request)
    only = key.id if key is not None and not key.admin else None
    battle_age_s = gw.settings.preference.max_battle_age_hours * 3600
    body = await in_db(summary, gw.engine, window, key_id=only, battle_age_s=battle_age_s)
    return json_response({"object": "usage.summary", "range": name, **body})


routes = [Route("/v1/usage/summary", usage_summary, methods=["GET"])]
