"""GET /v1/leaderboard?category=C&format=json|csv|table: arena ratings and answer satisfaction.

JSON: {"object": "leaderboard", "category", "battles", "bootstrap_rounds",
       "leaderboard": [{"rank", "model", "rating", "ci_low", "ci_high", "votes", "wins", "ties", "losses"}],
       "satisfaction": [{"model", "thumbs_up", "thumbs", "rate", "rate_low", "rate_high", "mean_score", "scores"}],
       "note": null | why there are no ratings,
       "pairwise": {"models", "win_rate": [[row beat column, ties half; null: never met]], "battles": [[n]]},
       "categories": [every category with votes or feedback],
       "auto": null | {"name", "shares": {model: current probability of being picked}}}
CSV: the leaderboard rows. Table: both tables as aligned text (what `multimodel leaderboard` prints).
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from multimodel.api.common import endpoint, in_db, json_response
from multimodel.errors import invalid
from multimodel.gateway import Gateway
from multimodel.preference.board import Board, board_from_db
from multimodel.preference.leaderboard import to_csv

CACHE_S = 5.0
FORMATS = ("json", "csv", "table")


class BoardCache:
    """Boards computed in the last few seconds (the bootstrap takes a good part of a second), one
    computation at a time. A vote or a rating through this process clears it; other replicas'
    show up within CACHE_S."""

    def __init__(self, ttl_s: float = CACHE_S) -> None:
        self._ttl = ttl_s
        self._boards: dict[str | None, tuple[float, Board]] = {}
        self._lock = asyncio.Lock()
        self._generation = 0  # bumped by clear(): a board computed across a clear() is not kept

    def clear(self) -> None:
        self._boards.clear()
        self._generation += 1

    async def get(self, gw: Gateway, category: str | None) -> Board:
        async with self._lock:
            now = time.monotonic()
            cached = self._boards.get(category)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
            generation = self._generation
            rounds = gw.settings.preference.bootstrap_rounds
            board = await in_db(board_from_db, gw.engine, category, rounds)
            if generation == self._generation:
                # Drop stale entries so that many categories cannot pile up.
                self._boards = {k: v for k, v in self._boards.items() if now - v[0] < self._ttl}
                self._boards[category] = (now, board)
            return board


@endpoint
async def get_leaderboard(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise invalid(f"'format' must be one of {', '.join(FORMATS)}", "format")
    board = await request.app.state.leaderboards.get(gw, request.query_params.get("category") or None)
    if fmt == "csv":
        return Response(to_csv(board.rows), media_type="text/csv")
    if fmt == "table":
        return PlainTextResponse(board.as_table())
    auto = gw.router.auto
    shares = None if auto is None else {"name": auto.name, "shares": auto.shares()}
    return json_response({**board.as_json(), "auto": shares})


routes = [Route("/v1/leaderboard", get_leaderboard, methods=["GET"])]
