"""The Anthropic API: POST /v1/messages (key as x-api-key or Authorization: Bearer, any anthropic-version)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.flow import ClientFormat, Encoder, serve_chat
from multimodel.errors import GatewayError
from multimodel.formats import anthropic_messages
from multimodel.types import ChatRequest, ChatResult


class AnthropicFormat(ClientFormat):
    name = "anthropic"

    def parse(self, body: dict[str, Any]) -> ChatRequest:
        return anthropic_messages.parse_request(body)

    def render(self, result: ChatResult, request_id: str, model: str) -> bytes:
        return anthropic_messages.render_response(result, request_id, model)

    def encoder(self, request_id: str, req: ChatRequest) -> Encoder:
        return anthropic_messages.StreamEncoder(request_id, req.model)

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


routes = [Route("/v1/messages", messages, methods=["POST"])]
