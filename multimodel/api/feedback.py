"""POST /v1/feedback: a rating of one answer, found by its request id.

    {"request_id": "req_...", "rating": "up" | "down", "score": 1..5, "comment": "...",
     "user": "...", "category": "..."}

`request_id` is the answer's `x-request-id` header; the response `id` (`chatcmpl-req_...`,
`msg_req_...`, `resp_...`) works too. One of `rating` and `score` is required. A second rating by the same
user of the same answer replaces the first (`comment` and `category` too). The answer is the
stored feedback. Arena answers are refused (400): they are judged by the battle's vote, and a
rating would move their model's row in the satisfaction table, naming it before the vote.

When the gateway requires API keys, an answer can only be rated with the key that asked for it
(403 otherwise): one product's users cannot move another's numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from multimodel.api.common import endpoint, in_db, json_response, only_fields, opt_user
from multimodel.api.flow import read_json
from multimodel.auth.middleware import key_of
from multimodel.errors import GatewayError, echo, invalid
from multimodel.formats import fields as f
from multimodel.gateway import Gateway
from multimodel.preference import store
from multimodel.preference.store import FeedbackRow

# How long to wait for the usage writer when a request id is not in the database yet: the
# row of an answer that just finished may still be in its queue.
FLUSH_WAIT_S = 2.0
_FIELDS = ("request_id", "rating", "score", "comment", "user", "category")
_ID_PREFIXES = ("chatcmpl-", "msg_")


def parse(body: dict[str, Any], now: float) -> FeedbackRow:
    only_fields(body, _FIELDS)
    request_id = f.req_str(body, "request_id")
    for prefix in _ID_PREFIXES:
        request_id = request_id.removeprefix(prefix)
    if request_id.startswith("resp_"):  # the Responses API's id: resp_<hex> for req_<hex>
        request_id = "req_" + request_id.removeprefix("resp_")
    rating = body.get("rating")
    if rating is not None and rating not in ("up", "down"):
        raise invalid('\'rating\' must be "up" or "down"', "rating")
    score = body.get("score")
    if score is not None and (
        not isinstance(score, int) or isinstance(score, bool) or score not in range(1, 6)
    ):
        raise invalid("'score' must be an integer from 1 to 5", "score")
    if rating is None and score is None:
        raise invalid("give 'rating' (\"up\" or \"down\") or 'score' (1 to 5)", "rating")
    comment = f.opt_str(body, "comment")
    if comment is not None and len(comment) > 10_000:
        raise invalid("'comment' must be at most 10000 characters", "comment")
    category = opt_user(body, "category", max_len=128)
    return FeedbackRow(request_id, opt_user(body) or "", rating, score, comment, category, now, now)


@endpoint
async def post_feedback(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    row = parse(await read_json(request), time.time())
    answer = await in_db(store.answer_of, gw.engine, row.request_id)
    if answer is None:
        await in_db(gw.writer.flush, FLUSH_WAIT_S)
        answer = await in_db(store.answer_of, gw.engine, row.request_id)
    if answer is None:
        raise GatewayError(
            "not_found",
            f"no answer has request id {echo(row.request_id)}",
            param="request_id",
            code="request_not_found",
        )
    endpoint, answer_key = answer
    key = key_of(request)
    if key is not None and answer_key != key.id:
        raise GatewayError(
            "permission",
            "this answer was made with another API key",
            param="request_id",
            code="not_your_answer",
        )
    if endpoint == "arena":
        # Its model's satisfaction row would move, and so name the model before the vote.
        raise GatewayError(
            "invalid_request",
            "an arena answer is judged by its battle's vote, not by feedback",
            param="request_id",
            code="arena_answer",
        )
    saved = await in_db(store.save_feedback, gw.engine, row)
    request.app.state.leaderboards.clear()  # the satisfaction table changed
    return json_response({"object": "feedback", **asdict(saved), "user": saved.user or None})


routes = [Route("/v1/feedback", post_feedback, methods=["POST"])]
