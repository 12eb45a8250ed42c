"""The pages for browsers: the leaderboard, the exercises (rules, downloads) and each
exercise's reveal and submission forms."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from underspec.server import service
from underspec.server.board import Board
from underspec.server.db import Team
from underspec.server.dependencies import PageError, csrf_checked, get_board
from underspec.server.web import Built, exercise_or_404, page, player

router = APIRouter(include_in_schema=False)


def to_exercise(exercise_id: int) -> Response:
    """Back to the exercise's page, at the team's own part."""
    return RedirectResponse(f"/exercises/{exercise_id}/#mine", status_code=303)


@router.get("/", response_class=HTMLResponse)
async def leaderboard(request: Request, board: Board = Depends(get_board)) -> Response:
    return await page(request, board, lambda session, snapshot, _team: ("leaderboard.html", {
        "exercises": list(snapshot.exercises.values()), "rows": snapshot.results(session),
        "phase": snapshot.phase}), shared="leaderboard")


@router.get("/exercises/", response_class=HTMLResponse)
async def exercises(request: Request, board: Board = Depends(get_board)) -> Response:
    return await page(request, board, lambda _session, snapshot, _team: ("exercises.html", {
        "exercises": [service.exercise_info(ex) for ex in snapshot.exercises.values()]}), shared="exercises")


@router.get("/exercises/{exercise_id}/", response_class=HTMLResponse)
async def exercise(request: Request, exercise_id: str, board: Board = Depends(get_board)) -> Response:
    def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
        ex = exercise_or_404(snapshot, exercise_id)
        mine = service.team_status(session, team, ex) if team else None
        return "exercise.html", {"ex": service.exercise_info(ex), "mine": mine}

    return await page(request, board, build)


@router.post("/exercises/{exercise_id}/reveal", dependencies=[Depends(csrf_checked)])
async def reveal(request: Request, exercise_id: str, datum_id: str = Form(...),
                 board: Board = Depends(get_board)) -> Response:
    def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
        ex = exercise_or_404(snapshot, exercise_id)
        row = datum_id.strip()
        if not (row.isascii() and row.isdigit() and int(row) < ex.n_items):
            raise PageError(422, f"{row[:20]!r} is not a row of X_val.npy: give a whole number from 0 to "
                                 f"{ex.n_items - 1}.")
        service.run_to_end(service.reveal(board.reveals_of(session), player(team),
                                          service.open_exercise(snapshot, ex.id), row))
        return to_exercise(ex.id)

    return await page(request, board, build)


@router.post("/exercises/{exercise_id}/submit", dependencies=[Depends(csrf_checked)])
async def submit(request: Request, exercise_id: str, file: UploadFile = File(...), confirm: str = Form(""),
                 board: Board = Depends(get_board)) -> Response:
    content = await file.read(service.MAX_SUBMISSION_BYTES + 1)

    def build(session: Session, snapshot: service.Snapshot, team: Team | None) -> Built:
        ex = exercise_or_404(snapshot, exercise_id)
        if confirm != "yes":
            raise PageError(422, "Tick the box that confirms this is your team's one submission "
                                 "for this exercise, then send the file again.")
        service.submit(session, player(team), service.open_exercise(snapshot, ex.id), content)
        return to_exercise(ex.id)

    return await page(request, board, build, atomic=True)
