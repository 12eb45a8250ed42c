"""What the leaderboard's web pages share (their routes: :mod:`underspec.server.routers.pages`
and :mod:`underspec.server.routers.account`): rendering, the logged-in team, refusals as pages.

Server-rendered with Jinja2 (autoescaped), no JavaScript. The rules are those of
:mod:`underspec.server.service`; a refusal is shown as an HTML page with the same status code,
in the words of the page's forms rather than the API's field names.

Each page is built and rendered in one worker-thread call (:meth:`Board.run`), so no database
connection is held while the request waits. A logged-in browser holds a signed cookie with a
random login token, whose hash the database keeps (:class:`~underspec.server.db.LoginSession`):
logging out or a password reset deletes it, so copies of the cookie stop working at once.
Every form carries a CSRF token, the MAC of a random per-browser cookie
(:class:`~underspec.server.accounts.Signer`), and a POST whose ``Origin`` header names another
site is refused.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from underspec.server import service
from underspec.server.board import Board
from underspec.server.db import Team
from underspec.server.dependencies import BROWSER_COOKIE, SESSION_COOKIE, PageError

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


@functools.cache
def templates() -> Jinja2Templates:
    """The pages' Jinja2 environment, built at the first page (importing Jinja2 would slow the
    server's start-up, whose first answers are often the API's)."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


# API field names as the pages' forms call them
PAGE_WORDS = {"datum_id": "row number", "exercise_id": "exercise"}

Built = tuple[str, dict] | Response


def as_page(exc: service.RefusedError) -> PageError:
    message = str(exc)
    for api, words in PAGE_WORDS.items():
        message = message.replace(api, words)
    return exc if isinstance(exc, PageError) else PageError(exc.status, message[:1].upper() + message[1:])


def with_browser_cookie(request: Request, response: Response, browser: str | None = None) -> Response:
    """``response``, giving the browser its random CSRF cookie if it has none."""
    if request.cookies.get(BROWSER_COOKIE) is None:
        response.set_cookie(BROWSER_COOKIE, browser or secrets.token_urlsafe(18), httponly=True,
                            samesite="strict")
    return response


def render(request: Request, board: Board, name: str, context: dict, team: Team | None,
           snapshot: service.Snapshot, *, status_code: int = 200) -> Response:
    """Render template ``name`` with ``context``, the team, the challenge and a CSRF token."""
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(18)
    response = templates().TemplateResponse(
        request, name, {"team": team, "csrf": board.signer.csrf_token(browser),
                        "challenge": snapshot.challenge, **context}, status_code=status_code)
    return with_browser_cookie(request, response, browser)


def viewer(request: Request, board: Board, session: Session, snapshot: service.Snapshot) -> Team | None:
    """The team this browser is logged in as, or None."""
    token = board.signer.unsign(request.cookies.get(SESSION_COOKIE))
    return service.login_team(session, snapshot, token)


def message_page(request: Request, board: Board, session: Session, snapshot: service.Snapshot,
                 exc: service.RefusedError) -> Response:
    """A refusal as a page, with the browser's own team in the navigation bar."""
    exc = as_page(exc)
    return render(request, board, "message.html", {"title": f"Refused ({exc.status})", "error": str(exc)},
                  viewer(request, board, session, snapshot), snapshot, status_code=exc.status)


async def page(request: Request, board: Board, build: Callable[[Session, service.Snapshot, Team | None], Built],
               status_code: int = 200, shared: str = "", atomic: bool = False) -> Response:
    """Build (``build(session, snapshot, team)`` gives a template name and its context, or a
    response) and render a page in one worker-thread call. A ``shared`` page is the same for
    every visitor who is not logged in: rendered once per snapshot under that name."""

    def work(session: Session, snapshot: service.Snapshot) -> Response:
        team = viewer(request, board, session, snapshot)
        if shared and team is None:
            if shared not in snapshot.pages:
                snapshot.pages[shared] = render(request, board, *build(session, snapshot, None), None, snapshot).body
            return with_browser_cookie(request, HTMLResponse(snapshot.pages[shared]))
        try:
            built = build(session, snapshot, team)
        except service.RefusedError as exc:
            return message_page(request, board, session, snapshot, exc)
        if isinstance(built, Response):
            return built
        name, context = built
        return render(request, board, name, context, team, snapshot, status_code=status_code)

    return await board.run(work, atomic)


def player(team: Team | None) -> Team:
    """The logged-in team, if it may reveal and submit."""
    if team is None:
        raise PageError(401, "Log in first (Log in, at the top of the page).")
    return service.check_may_play(team)


def exercise_or_404(snapshot: service.Snapshot, exercise_id: str):
    """The exercise a page's path names."""
    ex = snapshot.exercise(exercise_id)
    if ex is None:
        raise PageError(404, f"Exercise {exercise_id[:40]}: no such exercise.")
    return ex
