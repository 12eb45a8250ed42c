"""The leaderboard web app (FastAPI): the original ``/reveal/`` and ``/submit/`` calls, team
registration, the leaderboard and exercise pages. Rules live in :mod:`underspec.server.service`.

Errors are JSON ``{"detail": "..."}`` with the status codes listed there. OpenAPI docs at
``/docs``. This module never imports torch (nor pandas): the server starts in well under a
second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from underspec import __version__
from underspec.data.layout import PARTICIPANT_FILES
from underspec.server import service
from underspec.server.accounts import Signer, Verifier
from underspec.server.db import Exercise, open_database, secret_key
from underspec.server.web import PageError, render, web_routes

MAX_BODY_BYTES = service.MAX_SUBMISSION_BYTES + 64 * 1024  # the file and the form fields


def create_app(db_url: str | None = None, threads: int = 4) -> FastAPI:
    """The app on the database at ``db_url`` (schema created or migrated now), running its
    handlers in at most ``threads`` threads."""
    factory: sessionmaker[Session] = open_database(db_url)
    verifier = Verifier()
    signer = Signer(secret_key(factory))
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Handlers are short and hold the GIL: more threads than a few only make them queue
        # for it, and the slowest answers slower (bench/server.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(lifespan=lifespan, title="underspec leaderboard", version=__version__,
                  description="Reveal up to a budget of target labels, submit once per exercise.")

    results = service.ResultsCache()

    async def db() -> AsyncIterator[Session]:
        # async, so that FastAPI opens and closes it on the event loop rather than with two
        # extra trips to its thread pool; a Session connects only when first used.
        with factory() as session:
            yield session

    @app.exception_handler(service.RefusedError)
    def _refused(_request: Request, exc: service.RefusedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(PageError)
    def _refused_page(request: Request, exc: PageError) -> Response:
        return render(request, "message.html", None, signer, status_code=exc.status,
                      title=f"Refused ({exc.status})", error=str(exc))

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
        return results.get(session)

    @app.get("/exercises.json", summary="The exercises and their rules")
    def exercises_json(session: Session = Depends(db)) -> list[dict]:
        return [service.exercise_info(ex) for ex in service.exercise_list(session)]

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

    app.include_router(web_routes(db, verifier, signer, results))
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    return app


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413, before the form
    parser spools them: by the ``Content-Length`` header, or while reading a chunked body."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = JSONResponse({"detail": f"request body larger than {self.max_bytes} bytes"},
                                 status_code=413)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # FastAPI passes this on from its body parser
                raise HTTPException(413, f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counted_receive, send)
