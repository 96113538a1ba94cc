"""The Anthropic API: POST /v1/messages (key as x-api-key or Authorization: Bearer, any anthropic-version)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.flow import (
    ClientFormat,
    Encoder,
    check_capabilities,
    forward,
    new_request_id,
    read_json,
    serve_chat,
)
from multimodel.auth.keys import check_model
from multimodel.auth.middleware import key_of
from multimodel.errors import GatewayError
from multimodel.formats import anthropic_messages
from multimodel.formats.token_estimate import estimate_tokens
from multimodel.gateway import Gateway
from multimodel.types import ChatRequest, ChatResult


class AnthropicFormat(ClientFormat):
    name = "anthropic"

    def parse(self, body: dict[str, Any]) -> ChatRequest:
        return anthropic_messages.parse_request(body)

    def render(self, result: ChatResult, request_id: str, model: str) -> bytes:
        return anthropic_messages.render_response(result, request_id, model)

    def encoder(self, request_id: str, req: ChatRequest) -> Encoder:
        return anthropic_messages.StreamEncoder(
            request_id, req.model, req.native is not None and req.native.relay
        )

    def error_response(self, err: GatewayError, request_id: str | None) -> Response:
        return error_response(err, request_id)


FORMAT: ClientFormat = AnthropicFormat()


def error_response(err: GatewayError, request_id: str | None) -> Response:
    headers = {"x-request-id": request_id, "request-id": request_id} if request_id else {}
    if err.retry_after:
        headers["retry-after"] = err.retry_after
    return Response(
        orjson.dumps(anthropic_messages.error_body(err, request_id)),
        status_code=anthropic_messages.error_status(err),
        media_type="application/json",
        headers=headers,
    )


async def messages(request: Request) -> Response:
    response = await serve_chat(request.app.state.gateway, request, FORMAT)
    rid = response.headers.get("x-request-id")
    if rid and "request-id" not in response.headers:
        response.headers["request-id"] = rid  # the Anthropic SDKs read this one
    return response


async def count_tokens(request: Request) -> Response:
    """POST /v1/messages/count_tokens: {"input_tokens": N}. Exact where the model can count (an
    Anthropic upstream's own endpoint, the in-house tokenizer), else an estimate; the header
    `x-multimodel-token-count` says which. Free, as Anthropic's is: no usage row."""
    gw: Gateway = request.app.state.gateway
    try:
        body = await read_json(request)
        # The count takes a Messages request without max_tokens.
        req = anthropic_messages.parse_request({"max_tokens": 1} | body)
        if req.native is not None:
            req.native.body = body
        forward(request, req)
        key = key_of(request)
        check_model(key, req.model)
        route = gw.router.resolve(req.model, key.models if key is not None else None)
        check_capabilities(route, req)
        count = await route.provider.count_tokens(req)
    except GatewayError as err:
        return error_response(err, new_request_id())  # as every Anthropic error, it names one
    how = "exact" if count is not None else "estimate"
    return Response(
        orjson.dumps({"input_tokens": count if count is not None else estimate_tokens(req)}),
        media_type="application/json",
        headers={"x-multimodel-token-count": how},
    )


routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
