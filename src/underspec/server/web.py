"""The leaderboard's web pages for browsers: leaderboard, exercises (rules, downloads, reveal
and submission forms), team registration, login and the team's own page.

Server-rendered with Jinja2 (autoescaped), no JavaScript. The rules are those of
:mod:`underspec.server.service`; a refusal is shown as an HTML page with the same status code
and message the API would give.

A logged-in browser holds a signed session cookie (team id and a fingerprint of the team's
password hash, so a new password ends old sessions). Every form carries a CSRF token, the MAC
of a random per-browser cookie (:class:`~underspec.server.accounts.Signer`), and a POST whose
``Origin`` header names another site is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from underspec.server import service
from underspec.server.accounts import Signer, Verifier
from underspec.server.db import Exercise, Team, get_meta

SESSION_COOKIE = "underspec_session"
BROWSER_COOKIE = "underspec_browser"
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


class PageError(service.RefusedError):
    """A refusal on a web page: answered as an HTML page rather than JSON."""


@contextmanager
def shown_as_page() -> Iterator[None]:
    """Turn the service's refusals into :class:`PageError` within a page's handler."""
    try:
        yield
    except PageError:
        raise
    except service.RefusedError as exc:
        raise PageError(exc.status, str(exc)) from exc


def _fingerprint(team: Team) -> str:
    return hashlib.sha256(team.password_hash.encode()).hexdigest()[:16]


def render(request: Request, name: str, team: Team | None, signer: Signer, *,
           status_code: int = 200, **context) -> Response:
    """Render template ``name``; gives the browser its CSRF cookie if it has none."""
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(18)
    response = templates.TemplateResponse(
        request, name, {"team": team, "csrf": signer.csrf_token(browser), **context},
        status_code=status_code)
    if request.cookies.get(BROWSER_COOKIE) != browser:
        response.set_cookie(BROWSER_COOKIE, browser, httponly=True, samesite="strict")
    return response


def web_routes(db: Callable[[], AsyncIterator[Session]], verifier: Verifier, signer: Signer,
               results: service.ResultsCache) -> APIRouter:
    """The page routes, on the app's session dependency ``db`` and leaderboard cache."""
    router = APIRouter(include_in_schema=False)

    def viewer(request: Request, session: Session = Depends(db)) -> Team | None:
        value = signer.unsign(request.cookies.get(SESSION_COOKIE)) or ""
        team_id, _, fingerprint = value.partition(":")
        team = session.get(Team, int(team_id)) if team_id.isdigit() else None
        if team is None or not hmac.compare_digest(fingerprint, _fingerprint(team)):
            return None
        return team

    def player(team: Team | None = Depends(viewer)) -> Team:
        if team is None:
            raise PageError(401, "log in first (Log in, at the top of the page)")
        with shown_as_page():
            return service.check_may_play(team)

    def csrf_checked(request: Request, csrf: str = Form("")) -> None:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise PageError(403, f"form sent from another site ({origin}); open this site's page "
                            "and send it again")
        if not signer.csrf_ok(request.cookies.get(BROWSER_COOKIE), csrf):
            raise PageError(403, "missing or stale form token; reload the page and send it again")

    def exercise_or_404(session: Session, exercise_id: int) -> Exercise:
        ex = session.get(Exercise, exercise_id)
        if ex is None:
            raise PageError(404, f"exercise {exercise_id}: no such exercise")
        return ex

    def page(request: Request, name: str, team: Team | None, session: Session, **context) -> Response:
        challenge = get_meta(session, "challenge", "underspec challenge")
        return render(request, name, team, signer, challenge=challenge, **context)

    @router.get("/", response_class=HTMLResponse)
    def leaderboard(request: Request, team: Team | None = Depends(viewer),
                    session: Session = Depends(db)) -> Response:
        return page(request, "leaderboard.html", team, session,
                    exercises=service.exercise_list(session), rows=results.get(session),
                    phase=service.get_phase(session))

    @router.get("/exercises/", response_class=HTMLResponse)
    def exercises(request: Request, team: Team | None = Depends(viewer),
                  session: Session = Depends(db)) -> Response:
        infos = [service.exercise_info(ex) for ex in service.exercise_list(session)]
        return page(request, "exercises.html", team, session, exercises=infos)

    @router.get("/exercises/{exercise_id}/", response_class=HTMLResponse)
    def exercise(request: Request, exercise_id: int, team: Team | None = Depends(viewer),
                 session: Session = Depends(db)) -> Response:
        ex = exercise_or_404(session, exercise_id)
        mine = service.team_status(session, team, ex) if team else None
        return page(request, "exercise.html", team, session, ex=service.exercise_info(ex), mine=mine)

    @router.post("/exercises/{exercise_id}/reveal", dependencies=[Depends(csrf_checked)])
    def reveal(exercise_id: int, datum_id: str = Form(...), team: Team = Depends(player),
               session: Session = Depends(db)) -> Response:
        with shown_as_page():
            service.reveal(session, team, service.open_exercise(session, exercise_id), datum_id)
        return RedirectResponse(f"/exercises/{exercise_id}/#mine", status_code=303)

    @router.post("/exercises/{exercise_id}/submit", dependencies=[Depends(csrf_checked)])
    def submit(exercise_id: int, file: UploadFile = File(...), team: Team = Depends(player),
               session: Session = Depends(db)) -> Response:
        content = file.file.read(service.MAX_SUBMISSION_BYTES + 1)
        with shown_as_page():
            service.submit(session, team, service.open_exercise(session, exercise_id), content)
        return RedirectResponse(f"/exercises/{exercise_id}/#mine", status_code=303)

    @router.get("/account/register", response_class=HTMLResponse)
    def register_form(request: Request, team: Team | None = Depends(viewer),
                      session: Session = Depends(db)) -> Response:
        return page(request, "register.html", team, session)

    @router.post("/account/register", dependencies=[Depends(csrf_checked)])
    def register(request: Request, username: str = Form(...), password: str = Form(...),
                 session: Session = Depends(db)) -> Response:
        with shown_as_page():
            new = service.add_team(session, username, password)
        return page(request, "message.html", None, session, title="Registered",
                    notice=f"Team {new.name!r} is registered. The organisers must approve it "
                           "before it can reveal labels or submit; you can log in now.",
                    status_code=201)

    @router.get("/account/login", response_class=HTMLResponse)
    def login_form(request: Request, team: Team | None = Depends(viewer),
                   session: Session = Depends(db)) -> Response:
        return page(request, "login.html", team, session)

    @router.post("/account/login", dependencies=[Depends(csrf_checked)])
    def login(request: Request, username: str = Form(...), password: str = Form(...),
              session: Session = Depends(db)) -> Response:
        with shown_as_page():
            team = service.check_password(session, verifier, username, password)
        response = RedirectResponse("/account/", status_code=303)
        response.set_cookie(SESSION_COOKIE, signer.sign(f"{team.id}:{_fingerprint(team)}"),
                            max_age=int(signer.max_age), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    @router.post("/account/logout", dependencies=[Depends(csrf_checked)])
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/account/", response_class=HTMLResponse)
    def account(request: Request, team: Team | None = Depends(viewer),
                session: Session = Depends(db)) -> Response:
        if team is None:
            return RedirectResponse("/account/login", status_code=303)
        rows = [(service.exercise_info(ex), service.team_status(session, team, ex))
                for ex in service.exercise_list(session)]
        return page(request, "account.html", team, session, rows=rows)

    return router
