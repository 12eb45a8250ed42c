"""The leaderboard's web pages for browsers: leaderboard, exercises (rules, downloads, reveal
and submission forms), team registration, login and the team's own page.

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

import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from underspec.server import service
from underspec.server.board import Board, client_address, credentials
from underspec.server.db import Team

SESSION_COOKIE = "underspec_session"
BROWSER_COOKIE = "underspec_browser"
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
# API field names as the pages' forms call them
PAGE_WORDS = {"datum_id": "row number", "exercise_id": "exercise"}

Built = tuple[str, dict] | Response


class PageError(service.RefusedError):
    """A refusal on a web page: answered as an HTML page rather than JSON."""


def _as_page(exc: service.RefusedError) -> PageError:
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
    response = templates.TemplateResponse(
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
    exc = _as_page(exc)
    return render(request, board, "message.html", {"title": f"Refused ({exc.status})", "error": str(exc)},
                  viewer(request, board, session, snapshot), snapshot, status_code=exc.status)


def web_routes(board: Board) -> APIRouter:
    """The page routes of the app whose shared state is ``board``."""
    router = APIRouter(include_in_schema=False)

    async def page(request: Request, build: Callable[[Session, service.Snapshot, Team | None], Built],
                   status_code: int = 200, shared: str = "", atomic: bool = False) -> Response:
        """Build (``build(session, snapshot, team)`` gives a template name and its context, or
        a response) and render a page in one worker-thread call. A ``shared`` page is the same
        for every visitor who is not logged in: rendered once per snapshot under that name."""

        def work(session: Session, snapshot: service.Snapshot) -> Response:
            team = viewer(request, board, session, snapshot)
            if shared and team is None:
                if shared not in snapshot.pages:
                    snapshot.pages[shared] = render(request, board, *build(session, snapshot, None), None,
                                                    snapshot).body
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
        if team is None:
            raise PageError(401, "Log in first (Log in, at the top of the page).")
        return service.check_may_play(team)

    def csrf_checked(request: Request, csrf: str = Form("")) -> None:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise PageError(403, f"Form sent from another site ({origin}); open this site's page "
                            "and send it again.")
        if not board.signer.csrf_ok(request.cookies.get(BROWSER_COOKIE), csrf):
            raise PageError(403, "Missing or stale form token; reload the page and send it again.")

    def exercise_or_404(snapshot: service.Snapshot, exercise_id: str):
        ex = snapshot.exercise(exercise_id)
        if ex is None:
            raise PageError(404, f"Exercise {exercise_id[:40]}: no such exercise.")
        return ex

    def to_exercise(exercise_id: int) -> Response:
        return RedirectResponse(f"/exercises/{exercise_id}/#mine", status_code=303)

    @router.get("/", response_class=HTMLResponse)
    async def leaderboard(request: Request) -> Response:
        return await page(request, lambda session, snapshot, _team: ("leaderboard.html", {
            "exercises": list(snapshot.exercises.values()), "rows": snapshot.results(session),
            "phase": snapshot.phase}), shared="leaderboard")

    @router.get("/exercises/", response_class=HTMLResponse)
    async def exercises(request: Request) -> Response:
        return await page(request, lambda _session, snapshot, _team: ("exercises.html", {
            "exercises": [service.exercise_info(ex) for ex in snapshot.exercises.values()]}), shared="exercises")

    @router.get("/exercises/{exercise_id}/", response_class=HTMLResponse)
    async def exercise(request: Request, exercise_id: str) -> Response:
        def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
            ex = exercise_or_404(snapshot, exercise_id)
            mine = service.team_status(session, team, ex) if team else None
            return "exercise.html", {"ex": service.exercise_info(ex), "mine": mine}

        return await page(request, build)

    @router.post("/exercises/{exercise_id}/reveal", dependencies=[Depends(csrf_checked)])
    async def reveal(request: Request, exercise_id: str, datum_id: str = Form(...)) -> Response:
        def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
            ex = exercise_or_404(snapshot, exercise_id)
            row = datum_id.strip()
            if not (row.isascii() and row.isdigit() and int(row) < ex.n_items):
                raise PageError(422, f"{row[:20]!r} is not a row of X_val.npy: give a whole number from 0 to "
                                     f"{ex.n_items - 1}.")
            service.reveal(board.reveals_of(session), player(team), service.open_exercise(snapshot, ex.id), row)
            return to_exercise(ex.id)

        return await page(request, build)

    @router.post("/exercises/{exercise_id}/submit", dependencies=[Depends(csrf_checked)])
    async def submit(request: Request, exercise_id: str, file: UploadFile = File(...),
                     confirm: str = Form("")) -> Response:
        content = await file.read(service.MAX_SUBMISSION_BYTES + 1)

        def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
            ex = exercise_or_404(snapshot, exercise_id)
            if confirm != "yes":
                raise PageError(422, "Tick the box that confirms this is your team's one submission "
                                     "for this exercise, then send the file again.")
            service.submit(session, player(team), service.open_exercise(snapshot, ex.id), content)
            return to_exercise(ex.id)

        return await page(request, build, atomic=True)

    @router.get("/account/register", response_class=HTMLResponse)
    async def register_form(request: Request) -> Response:
        return await page(request, lambda _session, _snapshot, _team: ("register.html", {}))

    @router.post("/account/register", dependencies=[Depends(csrf_checked)])
    async def register(request: Request, username: str = Form(...), password: str = Form(...)) -> Response:
        try:
            new = await board.register(client_address(request), username, password)
        except service.RefusedError as exc:
            raise _as_page(exc) from exc
        return await page(request, lambda _session, _snapshot, _team: ("message.html", {
            "title": "Registered",
            "notice": f"Team {new.name!r} is registered. The organisers must approve it before it "
                      "can reveal labels or submit; you can log in now."}), status_code=201)

    @router.get("/account/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return await page(request, lambda _session, _snapshot, _team: ("login.html", {}))

    @router.post("/account/login", dependencies=[Depends(csrf_checked)])
    async def login(request: Request, username: str = Form(...), password: str = Form(...)) -> Response:
        try:
            creds = credentials(username, password, client_address(request))
            token = await board.as_team(creds, lambda session, _snapshot, team: service.start_login(session, team),
                                        may_play=False)
        except service.RefusedError as exc:
            raise _as_page(exc) from exc
        response = RedirectResponse("/account/", status_code=303)
        response.set_cookie(SESSION_COOKIE, board.signer.sign(token), max_age=int(board.signer.max_age),
                            httponly=True, samesite="lax", secure=request.url.scheme == "https")
        return response

    @router.post("/account/logout", dependencies=[Depends(csrf_checked)])
    async def logout(request: Request) -> Response:
        token = board.signer.unsign(request.cookies.get(SESSION_COOKIE))
        await board.run(lambda session, _snapshot: service.end_login(session, token))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/account/", response_class=HTMLResponse)
    async def account(request: Request) -> Response:
        def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
            if team is None:
                return RedirectResponse("/account/login", status_code=303)
            rows = [(service.exercise_info(ex), service.team_status(session, team, ex))
                    for ex in snapshot.exercises.values()]
            return "account.html", {"rows": rows}

        return await page(request, build)

    return router
