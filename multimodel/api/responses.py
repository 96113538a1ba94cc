"""The OpenAI Responses API over every provider, through the canonical path:
POST /v1/responses, GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items.

A response is stored unless the request says `store: false`, owned by the API key that made it:
with another key (or none, when keys are in use) its id answers 404, as if it never existed.
`previous_response_id` continues a stored conversation: its input and output items come before
the new input (its `instructions` do not, as OpenAI documents).

Storing happens after the answer is whole and before the client reads its end, in a worker
thread. If it fails, the answer still goes out (the upstream call is made and paid for) with
`store: false` in the response object, and the failure is logged; the id then answers 404.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.common import endpoint, in_db, json_response
from multimodel.api.flow import ClientFormat, Encoder, serve_chat
from multimodel.api.openai import error_response
from multimodel.auth.keys import KeyRecord
from multimodel.auth.middleware import key_of
from multimodel.errors import GatewayError, echo, invalid
from multimodel.formats import openai_responses as wire
from multimodel.formats import openai_responses_output as out
from multimodel.formats.openai_responses_items import messages
from multimodel.gateway import Gateway
from multimodel.store import responses as store
from multimodel.store.responses import ResponseRecord
from multimodel.types import ChatRequest, ChatResult

log = logging.getLogger("multimodel")


class ResponsesFormat(ClientFormat):
    """Made per request: it holds the request's response record from parse to storage."""

    name = "responses"

    def __init__(self, gw: Gateway, key: KeyRecord | None) -> None:
        self.gw = gw
        self.key_id = key.id if key is not None else None
        self._parsed: wire.Parsed | None = None
        self.stream: out.StreamEncoder | None = None
        self.stored = False

    @property
    def parsed(self) -> wire.Parsed:
        assert self._parsed is not None, "parse() comes first"
        return self._parsed

    @property
    def record(self) -> ResponseRecord:
        return self.parsed.record

    def parse(self, body: dict[str, Any]) -> ChatRequest:
        self._parsed = wire.parse_request(body)
        self._parsed.record.key_id = self.key_id
        return self._parsed.chat

    async def prepare(self, req: ChatRequest) -> None:
        rec = self.record
        if rec.previous_response_id is None:
            return
        previous = await in_db(store.load, self.gw.engine, rec.previous_response_id, self.key_id)
        if previous is None:
            raise GatewayError(
                "not_found",
                f"Previous response with id {echo(rec.previous_response_id)} not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        context = previous.input_items + previous.output_items
        new_items = rec.input_items
        rec.input_items = context + new_items
        at = self.parsed.system  # after this request's own instructions
        req.messages[at:at] = messages(context)
        if req.native is not None:  # the upstream does not know our ids: it gets the items themselves
            body = {k: v for k, v in req.native.body.items() if k != "previous_response_id"}
            req.native.body = body | {"input": [_unnamed(i) for i in context] + new_items}

    def encoder(self, request_id: str, req: ChatRequest) -> Encoder:
        self._answered(request_id, req)
        relay = req.native is not None and req.native.relay
        self.stream = out.StreamEncoder(self.record, store=self.parsed.store, relay=relay)
        return self.stream

    async def complete(self, request_id: str, req: ChatRequest, result: ChatResult) -> None:
        rec = self._answered(request_id, req)
        if self.stream is not None:
            self.stream.finish()  # the items as they were streamed
        elif result.native is not None:  # the upstream's own response: its items as it made them
            out.native_record(rec, result.native.data)
        else:
            out.finish_record(rec, result.finish, result.usage, out.output_items(result))
        if not self.parsed.store:
            return
        # If storing fails the answer still goes out, saying `store: false` (module docstring).
        try:
            await in_db(store.save, self.gw.engine, rec)
            self.stored = True
        except GatewayError:  # the database refused or is down: in_db logged why
            log.error("responses: %s was not stored; answered with store=false", rec.id)
        except Exception:  # a bug of ours
            log.error("responses: storing %s failed; answered with store=false", rec.id, exc_info=True)
        if self.stream is not None:
            self.stream.store = self.stored

    def _answered(self, request_id: str, req: ChatRequest) -> ResponseRecord:
        rec = self.record
        rec.id = out.response_id(request_id)
        rec.model = req.model  # the public name that answered (a fallback's, or the `auto` pick)
        return rec

    def render(self, result: ChatResult, request_id: str, model: str) -> bytes:
        if result.native is not None:
            return orjson.dumps(out.relayed(result.native.data, self.record, store=self.stored))
        return orjson.dumps(out.response_object(self.record, store=self.stored))

    def error_response(self, err: GatewayError, request_id: str | None) -> Response:
        return error_response(err, request_id)


def _unnamed(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item as input to an upstream: without the id it has only here."""
    return {k: v for k, v in item.items() if k != "id"}


async def create(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    return await serve_chat(gw, request, ResponsesFormat(gw, key_of(request)), endpoint="responses")


async def _owned(request: Request) -> ResponseRecord:
    gw: Gateway = request.app.state.gateway
    response_id = request.path_params["response_id"]
    key = key_of(request)
    rec = await in_db(store.load, gw.engine, response_id, key.id if key is not None else None)
    if rec is None:
        raise _not_found(response_id)
    return rec


def _not_found(response_id: str) -> GatewayError:
    return GatewayError("not_found", f"Response with id {echo(response_id)} not found.", param="response_id")


@endpoint
async def get_response(request: Request) -> Response:
    if request.query_params.get("stream") in ("true", "1"):
        raise invalid("streaming a stored response again is not supported", "stream")
    return json_response(out.response_object(await _owned(request), store=True))


@endpoint
async def delete_response(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    response_id = request.path_params["response_id"]
    key = key_of(request)
    if not await in_db(store.delete, gw.engine, response_id, key.id if key is not None else None):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


@endpoint
async def input_items(request: Request) -> Response:
    """The items the model read, newest first unless `order=asc`, `limit` (1-100, 20) at a time
    after the item `after`."""
    q = request.query_params
    order = q.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("'order' must be 'asc' or 'desc'", "order")
    limit = q.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise invalid("'limit' must be an integer from 1 to 100", "limit")
    items = (await _owned(request)).input_items
    if order == "desc":
        items = items[::-1]
    after = q.get("after")
    if after is not None:
        at = next((i for i, it in enumerate(items) if it.get("id") == after), None)
        if at is None:
            raise invalid(f"'after': no input item {echo(after)} in this response", "after")
        items = items[at + 1 :]
    page = items[: int(limit)]
    return json_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > len(page),
        }
    )


routes = [
    Route("/v1/responses", create, methods=["POST"]),
    Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/input_items", input_items, methods=["GET"]),
]
