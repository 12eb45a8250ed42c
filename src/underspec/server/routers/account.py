"""A team's account in the browser: register, log in and out, and the team's own page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from underspec.server import service
from underspec.server.board import Board, client_address, credentials
from underspec.server.db import Team
from underspec.server.dependencies import SESSION_COOKIE, csrf_checked, get_board
from underspec.server.web import Built, as_page, page

router = APIRouter(prefix="/account", include_in_schema=False)


@router.get("/register", response_class=HTMLResponse)
@router.get("/login", response_class=HTMLResponse)
async def form(request: Request, board: Board = Depends(get_board)) -> Response:
    """The registration or the login form (``register.html``, ``login.html``)."""
    name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return await page(request, board, lambda _session, _snapshot, _team: (f"{name}.html", {}))


@router.post("/register", dependencies=[Depends(csrf_checked)])
async def register(request: Request, username: str = Form(...), password: str = Form(...),
                   board: Board = Depends(get_board)) -> Response:
    try:
        new = await board.register(client_address(request), username, password)
    except service.RefusedError as exc:
        raise as_page(exc) from exc
    return await page(request, board, lambda _session, _snapshot, _team: ("message.html", {
        "title": "Registered",
        "notice": f"Team {new.name!r} is registered. The organisers must approve it before it "
                  "can reveal labels or submit; you can log in now."}), status_code=201)


@router.post("/login", dependencies=[Depends(csrf_checked)])
async def login(request: Request, username: str = Form(...), password: str = Form(...),
                board: Board = Depends(get_board)) -> Response:
    try:
        creds = credentials(username, password, client_address(request))
        token = await board.as_team(creds, lambda session, _snapshot, team: service.start_login(session, team),
                                    may_play=False)
    except service.RefusedError as exc:
        raise as_page(exc) from exc
    response = RedirectResponse("/account/", status_code=303)
    response.set_cookie(SESSION_COOKIE, board.signer.sign(token), max_age=int(board.signer.max_age),
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


@router.post("/logout", dependencies=[Depends(csrf_checked)])
async def logout(request: Request, board: Board = Depends(get_board)) -> Response:
    token = board.signer.unsign(request.cookies.get(SESSION_COOKIE))
    await board.run(lambda session, _snapshot: service.end_login(session, token))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
async def account(request: Request, board: Board = Depends(get_board)) -> Response:
    def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
        if team is None:
            return RedirectResponse("/account/login", status_code=303)
        rows = [(service.exercise_info(ex), service.team_status(session, team, ex))
                for ex in snapshot.exercises.values()]
        return "account.html", {"rows": rows}

    return await page(request, board, build)
