"""The UI's routes: one HTML shell for every page (its script picks the page from the path) and
the static files. Everything is served from here, so the pages make no outside request, and the
Content-Security-Policy holds them to that. The pages call the public /v1 API like any client."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
PAGES = ("arena", "leaderboard", "usage", "playground")
HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


async def home(request: Request) -> Response:
    return RedirectResponse("/ui/arena")


async def page(request: Request) -> Response:
    if request.path_params["page"] not in PAGES:
        raise HTTPException(404)
    return FileResponse(STATIC / "index.html", headers=HEADERS)


routes = [
    Route("/ui", home),
    Route("/ui/", home),
    Mount("/ui/static", StaticFiles(directory=STATIC), name="ui_static"),
    Route("/ui/{page}", page, methods=["GET", "HEAD"]),
]
