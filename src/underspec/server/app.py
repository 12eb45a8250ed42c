"""The leaderboard web app (FastAPI): the original ``/reveal/`` and ``/submit/`` calls, team
registration, the leaderboard and exercise pages. Rules live in :mod:`underspec.server.service`.

Errors are JSON ``{"detail": "..."}`` with the status codes listed there. OpenAPI docs at
``/docs``. This module never imports torch (nor pandas): the server starts in well under a
second.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from underspec import __version__
from underspec.data.layout import PARTICIPANT_FILES
from underspec.server import service
from underspec.server.accounts import Verifier
from underspec.server.db import Exercise, open_database


def create_app(db_url: str | None = None) -> FastAPI:
    """The app on the database at ``db_url`` (schema created or migrated now)."""
    factory: sessionmaker[Session] = open_database(db_url)
    verifier = Verifier()
    app = FastAPI(title="underspec leaderboard", version=__version__,
                  description="Reveal up to a budget of target labels, submit once per exercise.")

    def db() -> Iterator[Session]:
        with factory() as session:
            yield session

    @app.exception_handler(service.RefusedError)
    def _refused(_request: Request, exc: service.RefusedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.post("/reveal/", summary="Reveal the label of one target row (X_val row datum_id)")
    def reveal(username: str = Form(...), password: str = Form(...),
               exercise_id: str = Form(...), datum_id: str = Form(...),
               session: Session = Depends(db)) -> dict:
        team = service.authenticate(session, verifier, username, password)
        ex = service.open_exercise(session, exercise_id)
        return service.reveal(session, team, ex, datum_id)

    @app.post("/submit/", summary="Submit predictions: a CSV, one label per target row")
    def submit(username: str = Form(...), password: str = Form(...),
                     exercise_id: str = Form(...), file: UploadFile = File(...),
                     session: Session = Depends(db)) -> dict:
        content = file.file.read(service.MAX_SUBMISSION_BYTES + 1)
        team = service.authenticate(session, verifier, username, password)
        ex = service.open_exercise(session, exercise_id)
        return service.submit(session, team, ex, content)

    @app.post("/register/", status_code=201, summary="Register a team (then wait for approval)")
    def register(username: str = Form(...), password: str = Form(...),
                 session: Session = Depends(db)) -> dict:
        team = service.add_team(session, username, password)
        return {"team": team.name, "approved": team.approved}

    @app.get("/leaderboard.json", summary="The live leaderboard (public rows)")
    def leaderboard_json(session: Session = Depends(db)) -> list[dict]:
        return service.results(session)

    @app.get("/exercises.json", summary="The exercises and their rules")
    def exercises_json(session: Session = Depends(db)) -> list[dict]:
        return [_exercise_info(ex) for ex in service.exercise_list(session)]

    @app.get("/exercises/{exercise_id}/{name}", summary="Download a participant file")
    def download(exercise_id: int, name: str, session: Session = Depends(db)) -> FileResponse:
        ex = session.get(Exercise, exercise_id)
        if ex is None:
            raise service.RefusedError(404, f"exercise_id {exercise_id}: no such exercise")
        if name not in PARTICIPANT_FILES:
            raise service.RefusedError(404, f"{name}: not a participant file; expected one of "
                                       f"{', '.join(PARTICIPANT_FILES)}")
        path = Path(ex.source) / name
        if not path.is_file():
            raise service.RefusedError(404, f"{name}: not on this server")
        return FileResponse(path, filename=f"{ex.id}_{name}")

    @app.get("/", response_class=HTMLResponse, summary="The leaderboard page")
    def leaderboard_page(session: Session = Depends(db)) -> str:
        return render_leaderboard(service.exercise_list(session), service.results(session),
                                  service.get_phase(session))

    return app


def _exercise_info(ex: Exercise) -> dict:
    return {"id": ex.id, "name": ex.name, "points": ex.points, "default_score": ex.default_score,
            "budget": ex.budget, "classes": ex.class_values(), "target_rows": ex.n_items,
            "open": ex.is_open, "files": [f"/exercises/{ex.id}/{n}" for n in PARTICIPANT_FILES]}


def render_leaderboard(exercises: list[Exercise], rows: list[dict], phase: str) -> str:
    """The leaderboard as a small HTML page (default scores in grey, marked "default")."""
    esc = html.escape
    head = "".join(f"<th title='{esc(ex.name)}, {ex.points:g} points'>{ex.id}<br>{esc(ex.name)}</th>"
                   for ex in exercises)
    body = []
    for row in rows:
        cells = []
        for ex in exercises:
            cell = row["scores"][ex.id]
            cls = " class='default'" if cell["default"] else ""
            mark = " (default)" if cell["default"] else ""
            cells.append(f"<td{cls}>{cell['accuracy']:.4f}{mark}</td>")
        body.append(f"<tr><td>{row['rank']}</td><td>{esc(row['team'])}</td>{''.join(cells)}"
                    f"<td><b>{row['total']:.3f}</b></td></tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>underspec leaderboard</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}.default{{color:#999}}</style>
</head><body><h1>Leaderboard</h1><p>Phase: {esc(phase)}. Scores are accuracies on the target
rows; an exercise without a submission counts its default score.</p>
<table id="leaderboard"><thead><tr><th>rank</th><th>team</th>{head}<th>total</th></tr></thead>
<tbody>{''.join(body)}</tbody></table>
<p><a href="/exercises.json">exercises</a> · <a href="/docs">API</a></p></body></html>"""
