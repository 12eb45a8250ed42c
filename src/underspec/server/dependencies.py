"""What the routers depend on (FastAPI's "Bigger Applications" layout): the app's shared
:class:`~underspec.server.board.Board`, the one-value-per-field rule of every form and the
CSRF check of the pages' forms.

The dependencies are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread,
and a request must take one worker-thread step only (:mod:`underspec.server.board`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Depends, Form, Request

from underspec.server import service
from underspec.server.board import Board

BROWSER_COOKIE = "underspec_browser"
SESSION_COOKIE = "underspec_session"


class PageError(service.RefusedError):
    """A refusal on a web page: answered as an HTML page rather than JSON."""


async def get_board(request: Request) -> Board:
    """The board of the app serving ``request`` (set by :func:`underspec.server.app.create_app`)."""
    return request.app.state.board


async def single_valued(request: Request) -> None:
    """Refuse a form that sends a field twice (the last would silently win)."""
    if request.method != "POST":
        return
    seen: set[str] = set()
    for key, _ in (await request.form()).multi_items():
        if key in seen:
            raise service.RefusedError(422, f"{key}: sent more than once; expected one value")
        seen.add(key)


async def csrf_checked(request: Request, csrf: str = Form(""), board: Board = Depends(get_board)) -> None:
    """Refuse a page form sent from another site or without this browser's form token."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise PageError(403, f"Form sent from another site ({origin}); open this site's page and send it again.")
    if not board.signer.csrf_ok(request.cookies.get(BROWSER_COOKIE), csrf):
        raise PageError(403, "Missing or stale form token; reload the page and send it again.")
