"""The JSON API: the seed's ``/reveal/`` and ``/submit/`` calls, registration, the leaderboard,
the exercises and their participant files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from underspec.data.layout import PARTICIPANT_FILES
from underspec.server import service
from underspec.server.board import Board, client_address, credentials
from underspec.server.dependencies import get_board

router = APIRouter()


@router.post("/reveal/", summary="Reveal the label of one target row (X_val row datum_id)")
async def reveal(request: Request, username: str = Form(...), password: str = Form(...),
                 exercise_id: str = Form(...), datum_id: str = Form(...),
                 board: Board = Depends(get_board)) -> JSONResponse:
    creds = credentials(username, password, client_address(request))
    return JSONResponse(await board.as_team(creds, lambda table, snapshot, team: service.reveal(
        table, team, service.open_exercise(snapshot, exercise_id), datum_id), reveals=True))


@router.post("/submit/", summary="Submit predictions: a CSV, one label per target row")
async def submit(request: Request, username: str = Form(...), password: str = Form(...),
                 exercise_id: str = Form(...), file: UploadFile = File(...),
                 board: Board = Depends(get_board)) -> JSONResponse:
    content = await file.read(service.MAX_SUBMISSION_BYTES + 1)
    creds = credentials(username, password, client_address(request))
    return JSONResponse(await board.as_team(creds, lambda session, snapshot, team: service.submit(
        session, team, service.open_exercise(snapshot, exercise_id), content), atomic=True))


@router.post("/register/", status_code=201, summary="Register a team (then wait for approval)")
async def register(request: Request, username: str = Form(...), password: str = Form(...),
                   board: Board = Depends(get_board)) -> JSONResponse:
    team = await board.register(client_address(request), username, password)
    return JSONResponse({"team": team.name, "approved": team.approved}, status_code=201)


@router.get("/leaderboard.json", summary="The live leaderboard (public rows)")
async def leaderboard_json(board: Board = Depends(get_board)) -> JSONResponse:
    return JSONResponse(await board.run(lambda session, snapshot: snapshot.results(session)))


@router.get("/exercises.json", summary="The exercises and their rules")
async def exercises_json(board: Board = Depends(get_board)) -> JSONResponse:
    return JSONResponse(await board.run(
        lambda _session, snapshot: [service.exercise_info(ex) for ex in snapshot.exercises.values()]))


@router.get("/exercises/{exercise_id}/{name}", summary="Download a participant file")
async def download(exercise_id: str, name: str, board: Board = Depends(get_board)) -> FileResponse:
    ex = await board.run(lambda _session, snapshot: snapshot.exercise(exercise_id))
    if ex is None:
        raise service.RefusedError(404, f"exercise_id {exercise_id}: no such exercise")
    if name not in PARTICIPANT_FILES:
        raise service.RefusedError(404, f"{name}: not a participant file; expected one of "
                                   f"{', '.join(PARTICIPANT_FILES)}")
    path = Path(ex.source) / name
    if not path.is_file():
        raise service.RefusedError(404, f"{name}: not on this server")
    return FileResponse(path, filename=f"{ex.id}_{name}")
