"""The arena: two anonymous answers to one prompt, one vote, then the names.

    POST /v1/arena/battles  {"prompt": "..."} or {"messages": [...]}, "user"?, "category"?
      -> {"id", "object": "arena.battle", "created_at", "a": {"stream": URL}, "b": {"stream": URL}, "vote": URL}
    GET  /v1/arena/battles/{id}/stream/{a|b}
      -> that side's answer as OpenAI chat.completion.chunk SSE, with model "model-a" / "model-b"
    POST /v1/arena/battles/{id}/vote  {"winner": "a" | "b" | "tie" | "both_bad", "user"?}
      -> {"object": "arena.vote", "battle_id", "winner", "a": {"model"}, "b": {"model"}, "created_at"}

The two models are drawn from `preference.arena_pool` (multimodel.preference.pairing). Nothing
names them before the vote: the stream shows the side's label, error messages are generic (an
upstream's message may name its model), feedback answers never include a model, and the usage
summary leaves the answers out until the vote (multimodel.store.stats).

Each side streams once. Its first GET claims it (one conditional UPDATE, so of two concurrent
GETs one runs the model) and a later GET is a 409 `side_already_streamed`: a replay would need
the answer stored, which it is not with `log_content` off, and a re-run would bill the model
again and let a voter draw answers until one pleases. A GET that fails before its answer begins
(an upstream error, an open circuit) releases the claim: nothing was answered, so the side may
be asked again. Once the answer began the side is spent, even if the stream breaks or the client
leaves: the model has run and billed, and a retry is a re-run.

Both sides must be claimed before a vote; a battle takes one vote, within `max_battle_age_hours`
of its creation. Daily caps (multimodel.preference.store.Caps): a voter (the vote's `user`, else
the battle's) casts at most `votes_per_user_per_day` votes and creates at most
`battles_per_user_per_day` battles per API key, callers without a user id sharing one budget per
key; a key casts at most `votes_per_key_per_day` votes and creates `battles_per_key_per_day`
battles whatever `user` says (without keys, all callers together are one key). With gateway API
keys in use, a battle belongs to the key that created it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.common import endpoint, in_db, json_response, only_fields, opt_user
from multimodel.api.flow import Encoder, new_request_id, read_json, serve_prepared
from multimodel.api.openai import OpenAIFormat
from multimodel.auth.middleware import key_of
from multimodel.errors import GatewayError, echo, invalid
from multimodel.formats import openai_chat
from multimodel.gateway import Gateway
from multimodel.preference import store
from multimodel.preference.battles import Winner
from multimodel.preference.pairing import draw_pair
from multimodel.preference.store import BattleRow, CapOutcome, Caps
from multimodel.types import ChatRequest

WINNERS: dict[str, Winner] = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
SIDES: dict[Winner, str] = {w: side for side, w in WINNERS.items()}


def _anonymous(err: GatewayError) -> GatewayError:
    return GatewayError(
        err.kind, f"the model could not answer ({err.kind})", status=err.status, retry_after=err.retry_after
    )


class _AnonymousEncoder(openai_chat.StreamEncoder):
    @staticmethod
    def error(err: GatewayError) -> bytes:
        return openai_chat.StreamEncoder.error(_anonymous(err))


class ArenaFormat(OpenAIFormat):
    """The OpenAI format whose errors cannot name the model."""

    def encoder(self, request_id: str, req: ChatRequest) -> Encoder:
        return _AnonymousEncoder(request_id, req.model, req.include_usage)

    def error_response(self, err: GatewayError, request_id: str | None) -> Response:
        return super().error_response(_anonymous(err), request_id)


FORMAT = ArenaFormat()


@endpoint
async def create_battle(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    body = await read_json(request)
    only_fields(body, ("prompt", "messages", "user", "category"))
    messages = _messages(body)
    pool = gw.settings.arena_pool
    if len(pool) < 2:
        raise GatewayError(
            "not_found",
            "the arena needs at least two models (preference.arena_pool)",
            code="arena_unavailable",
        )
    user, key = opt_user(body), key_of(request)
    model_a, model_b = draw_pair(pool, gw.preferences.standings, np.random.default_rng())
    battle = BattleRow(
        id=store.ARENA_ID_PREFIX + secrets.token_hex(12),
        created_at=time.time(),
        model_a=model_a,
        model_b=model_b,
        prompt=orjson.dumps(messages).decode(),
        user=user,
        category=opt_user(body, "category", max_len=128),
        request_a=None,
        request_b=None,
        winner=None,
        key_id=key.id if key else None,
    )
    p = gw.settings.preference
    caps = Caps(p.battles_per_user_per_day, p.battles_per_key_per_day)
    outcome = await in_db(store.create_battle, gw.engine, battle, caps)
    if outcome != "ok":
        raise _limit_error(outcome, caps, "battles", key is not None, code="battle_limit")
    links = {s: {"stream": str(request.url_for("arena_stream", battle_id=battle.id, side=s))} for s in "ab"}
    return json_response(
        {
            "id": battle.id,
            "object": "arena.battle",
            "created_at": battle.created_at,
            **links,
            "vote": str(request.url_for("arena_vote", battle_id=battle.id)),
        }
    )


def _messages(body: dict[str, Any]) -> list[Any]:
    """The prompt as OpenAI messages, validated by the OpenAI parser (errors name the field)."""
    if ("prompt" in body) == ("messages" in body):
        raise invalid("give either 'prompt' (a string) or 'messages' (OpenAI chat messages)", "prompt")
    if "prompt" in body:
        prompt = body["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise invalid("'prompt' must be a non-empty string", "prompt")
        return [{"role": "user", "content": prompt}]
    openai_chat.parse_request({"model": "arena", "messages": body["messages"]})
    return list(body["messages"])


@endpoint
async def stream_answer(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    side: Literal["a", "b"] = request.path_params["side"]
    if side not in ("a", "b"):
        raise GatewayError("not_found", f"no side {echo(side)}: a battle has sides a and b", param="side")
    battle = await _open_battle(gw, request, request.path_params["battle_id"])
    model = battle.model_a if side == "a" else battle.model_b
    route = gw.router.routes.get(model)
    if route is None:  # the config changed since the battle was made
        raise GatewayError(
            "not_found", f"model-{side} of this battle is no longer served", code="battle_gone"
        )
    req = openai_chat.parse_request(
        {"model": f"model-{side}", "messages": orjson.loads(battle.prompt), "stream": True}
    )
    req.user = battle.user
    req.native = None  # an upstream's own answer could name it (system_fingerprint, ids)
    request_id = new_request_id()
    if not await in_db(store.claim_side, gw.engine, battle.id, side, request_id):
        raise GatewayError(
            "invalid_request",
            f"side {side} of battle {battle.id!r} was asked for already: each side streams once",
            status=409,
            param="side",
            code="side_already_streamed",
        )
    response = await serve_prepared(
        gw, FORMAT, req, route, endpoint="arena", key=key_of(request), request_id=request_id
    )
    if response.status_code != 200:  # the answer never began: the side may be asked again
        await in_db(store.release_side, gw.engine, battle.id, side, request_id)
    return response


@endpoint
async def vote(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    body = await read_json(request)
    only_fields(body, ("winner", "user"))
    choice = body.get("winner")
    winner = WINNERS.get(choice) if isinstance(choice, str) else None
    if winner is None:
        raise invalid('\'winner\' must be one of "a", "b", "tie", "both_bad"', "winner")
    battle = await _open_battle(gw, request, request.path_params["battle_id"])
    if battle.request_a is None or battle.request_b is None:
        raise invalid("stream both answers (a and b) before voting", "winner")
    user, key = opt_user(body) or battle.user, key_of(request)
    now = time.time()
    p = gw.settings.preference
    caps = Caps(p.votes_per_user_per_day, p.votes_per_key_per_day)
    outcome = await in_db(
        store.record_vote, gw.engine, battle.id, winner, user, key.id if key else None, now, caps
    )
    if outcome == "already_voted":
        raise _voted(battle.id)
    if outcome != "recorded":
        raise _limit_error(outcome, caps, "votes", key is not None, code="vote_limit")
    request.app.state.leaderboards.clear()
    return json_response(
        {
            "object": "arena.vote",
            "battle_id": battle.id,
            "winner": SIDES[winner],
            "a": {"model": battle.model_a},
            "b": {"model": battle.model_b},
            "created_at": now,
        }
    )


async def _open_battle(gw: Gateway, request: Request, battle_id: str) -> BattleRow:
    """The battle, if it still takes answers and votes from this caller (with keys in use, only
    the key that created it sees it: another's battle answers as if it did not exist)."""
    battle = await in_db(store.get_battle, gw.engine, battle_id)
    key = key_of(request)
    if battle is None or (key is not None and battle.key_id != key.id):
        raise GatewayError("not_found", f"no battle {echo(battle_id)}", code="battle_not_found")
    if battle.winner is not None:
        raise _voted(battle_id)
    max_age_h = gw.settings.preference.max_battle_age_hours
    if time.time() - battle.created_at > max_age_h * 3600:
        raise GatewayError(
            "invalid_request",
            f"battle {battle_id!r} is closed: battles take votes for {max_age_h:g} hours",
            status=410,
            code="battle_expired",
        )
    return battle


def _limit_error(outcome: CapOutcome, caps: Caps, what: str, keyed: bool, code: str) -> GatewayError:
    if outcome == "over_user_cap":
        message = f"at most {caps.per_user} {what} per user per day"
    else:
        message = f"at most {caps.per_key} {what} per day " + ("per API key" if keyed else "in all")
    return GatewayError("rate_limit", message, code=code)


def _voted(battle_id: str) -> GatewayError:
    return GatewayError(
        "invalid_request", f"battle {battle_id!r} already has a vote", status=409, code="already_voted"
    )


routes = [
    Route("/v1/arena/battles", create_battle, methods=["POST"]),
    Route("/v1/arena/battles/{battle_id}/stream/{side}", stream_answer, methods=["GET"], name="arena_stream"),
    Route("/v1/arena/battles/{battle_id}/vote", vote, methods=["POST"], name="arena_vote"),
]
