"""The OpenAI API: POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models[/{id}]."""

from __future__ import annotations

import asyncio
import base64
import datetime
import sys
import time
from array import array
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.flow import ClientFormat, Encoder, new_request_id, read_json, serve_chat, shutdown_error
from multimodel.auth.keys import check_model
from multimodel.auth.middleware import key_of
from multimodel.errors import GatewayError, invalid
from multimodel.formats import openai_chat
from multimodel.gateway import Gateway
from multimodel.routing import attempts
from multimodel.store.usage import UsageRow
from multimodel.types import ChatRequest, ChatResult, EmbedRequest


class OpenAIFormat(ClientFormat):
    name = "openai"

    def parse(self, body: dict[str, Any]) -> ChatRequest:
        return openai_chat.parse_request(body)

    def render(self, result: ChatResult, request_id: str, model: str) -> bytes:
        return openai_chat.render_response(result, request_id, model)

    def encoder(self, request_id: str, req: ChatRequest) -> Encoder:
        relay = req.native is not None and req.native.relay
        return openai_chat.StreamEncoder(request_id, req.model, req.include_usage, relay)

    def error_response(self, err: GatewayError, request_id: str | None) -> Response:
        return error_response(err, request_id)


FORMAT: ClientFormat = OpenAIFormat()


def error_response(err: GatewayError, request_id: str | None) -> Response:
    headers = {"x-request-id": request_id} if request_id else {}
    if err.retry_after:
        headers["retry-after"] = err.retry_after
    return Response(
        orjson.dumps(openai_chat.error_body(err)),
        status_code=openai_chat.error_status(err),
        media_type="application/json",
        headers=headers,
    )


async def chat_completions(request: Request) -> Response:
    return await serve_chat(request.app.state.gateway, request, FORMAT)


async def embeddings(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    request_id = new_request_id()

    t0, created = time.perf_counter(), time.time()
    row = UsageRow(request_id, created, "openai", "embeddings", "", None, None, False, 200, None, 0.0, None)
    key = key_of(request)
    row.key_id = key.id if key is not None else None
    gw.open_rows.add(request_id)
    try:
        body = await read_json(request)
        ereq, fmt = _parse_embeddings(body)
        row.public_model = ereq.model
        check_model(key, ereq.model)
        route = gw.router.resolve(ereq.model, key.models if key is not None else None)
        row.provider, row.upstream_model = route.config.first.provider, route.config.first.model
        # The deployments, retries, breakers and fallbacks of the model, as for chat.
        answered, dep, result = await attempts.embed(route, ereq, row.attempts)
        if answered.name != ereq.model:  # a fallback or the `auto` alias's pick: name it
            row.route, row.public_model = row.route or ereq.model, answered.name
        row.provider, row.upstream_model = dep.config.provider, dep.config.model
        row.input_tokens = result.input_tokens
        if dep.config.price is not None:
            row.cost_usd = dep.config.price.cost(row)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(v, fmt)}
            for i, v in enumerate(result.vectors)
        ]
        out = {
            "object": "list",
            "data": data,
            "model": answered.name,
            "usage": {"prompt_tokens": result.input_tokens, "total_tokens": result.input_tokens},
        }
        return Response(
            orjson.dumps(out), media_type="application/json", headers={"x-request-id": request_id}
        )
    except GatewayError as err:
        row.status, row.error_type = openai_chat.error_status(err), err.kind
        return error_response(err, request_id)
    except asyncio.CancelledError:  # cut by the end of the shutdown grace: see flow._answer
        cut = shutdown_error()
        row.status, row.error_type = cut.status, cut.kind
        return error_response(cut, request_id)
    finally:
        row.latency_ms = (time.perf_counter() - t0) * 1000
        gw.log_usage(row)


def _parse_embeddings(body: dict[str, Any]) -> tuple[EmbedRequest, str]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("'model' is required and must be a non-empty string", "model")
    raw = body.get("input")
    inputs: list[str] | list[list[int]]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = raw
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [raw]
    elif (
        isinstance(raw, list)
        and raw
        and all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw)
    ):
        inputs = raw
    else:
        raise invalid("'input' must be a string, an array of strings, or token arrays (non-empty)", "input")
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
        raise invalid("'dimensions' must be a positive integer", "dimensions")
    user = body.get("user")
    return EmbedRequest(model, inputs, dims, user if isinstance(user, str) else None), fmt


def _encode(vector: list[float], fmt: str) -> list[float] | str:
    if fmt == "float":
        return vector
    a = array("f", vector)  # base64 of little-endian float32, as the SDKs decode it
    if sys.byteorder == "big":
        a.byteswap()
    return base64.b64encode(a.tobytes()).decode()


def _allowed(request: Request) -> frozenset[str] | None:
    """The public names this caller may use (a key can be limited to some models); None: all."""
    key = key_of(request)
    return None if key is None else key.models


def _visible(request: Request, gw: Gateway) -> list[str]:
    allowed = _allowed(request)
    return [n for n in gw.router.names if allowed is None or n in allowed]


async def list_models(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    names = _visible(request, gw)
    if "anthropic-version" in request.headers:  # the Anthropic SDK's models.list() uses the same path
        data = [_anthropic_model(gw, name) for name in names]
        return Response(
            orjson.dumps(
                {
                    "data": data,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                    "has_more": False,
                }
            ),
            media_type="application/json",
        )
    return Response(
        orjson.dumps({"object": "list", "data": [_model(gw, n) for n in names]}),
        media_type="application/json",
    )


async def get_model(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    name = request.path_params["model"]
    if name not in _visible(request, gw):
        err = gw.router.not_found(name, _allowed(request))  # naming only models the key may see
        if "anthropic-version" in request.headers:
            from multimodel.api.anthropic import error_response as anthropic_error

            return anthropic_error(err, new_request_id())
        return error_response(err, None)
    body = _anthropic_model(gw, name) if "anthropic-version" in request.headers else _model(gw, name)
    return Response(orjson.dumps(body), media_type="application/json")


def _model(gw: Gateway, name: str) -> dict[str, Any]:
    route = gw.router.routes.get(name)
    return {
        "id": name,
        "object": "model",
        "created": gw.started_at,
        "owned_by": route.config.first.provider if route else "multimodel",  # the `auto` alias is ours
    }


def _anthropic_model(gw: Gateway, name: str) -> dict[str, Any]:

    created = datetime.datetime.fromtimestamp(gw.started_at, datetime.UTC).isoformat().replace("+00:00", "Z")
    # capabilities, max_input_tokens and max_tokens: required by the spec though null where unknown.
    return {
        "type": "model",
        "id": name,
        "display_name": name,
        "created_at": created,
        "capabilities": None,
        "max_input_tokens": None,
        "max_tokens": None,
    }


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
