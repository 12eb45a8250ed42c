"""The leaderboard web app (FastAPI): the routers of :mod:`underspec.server.routers` (the
original ``/reveal/`` and ``/submit/`` calls, team registration, the leaderboard and exercise
pages) on one shared :class:`~underspec.server.board.Board` (``app.state.board``). Rules live
in :mod:`underspec.server.service`; how handlers reach the database and check passwords, in
:mod:`underspec.server.board`.

Errors are JSON ``{"detail": "..."}`` with the status codes listed in the service (429 and 503
carry ``Retry-After``). API docs at ``/docs``, served from this server's own files (no CDN: a
venue may have no internet). This module never imports torch (nor pandas): the server starts
in well under a second.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from underspec import __version__
from underspec.server import service
from underspec.server.accounts import Signer, Verifier
from underspec.server.board import Board
from underspec.server.db import open_database, secret_key
from underspec.server.dependencies import PageError, single_valued
from underspec.server.routers import account, api, pages
from underspec.server.web import message_page

MAX_BODY_BYTES = service.MAX_SUBMISSION_BYTES + 64 * 1024  # a submission and its form fields
MAX_FORM_BYTES = 64 * 1024  # every other request
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self' "
                                 b"'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
]


def create_app(db_url: str | None = None, threads: int = 4, verifier: Verifier | None = None) -> FastAPI:
    """The app on the database at ``db_url`` (schema created or migrated now), running its
    handlers in at most ``threads`` threads; ``verifier`` sets the password-check limits."""
    factory = open_database(db_url)
    board = Board(factory, verifier or Verifier(), Signer(secret_key(factory)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Handlers are short and hold the GIL: more threads than a few only make them queue
        # for it, and the slowest answers slower (bench/server.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        await board.dispose()  # close the pooled connections on shutdown

    app = FastAPI(lifespan=lifespan, title="underspec leaderboard", version=__version__,
                  description="Reveal up to a budget of target labels, submit once per exercise.",
                  docs_url=None, redoc_url=None, dependencies=[Depends(single_valued)])

    @app.exception_handler(service.RefusedError)
    async def _refused(request: Request, exc: service.RefusedError) -> Response:
        if isinstance(exc, PageError):
            return await board.run(lambda session, snapshot: message_page(request, board, session, snapshot, exc))
        headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    app.state.board = board
    docs_routes(app)
    for router in (api.router, pages.router, account.router):
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, max_form_bytes=MAX_FORM_BYTES)
    app.add_middleware(SecurityHeaders)
    return app


def docs_routes(app: FastAPI) -> None:
    """``/docs``: Swagger UI 5 from the ``swagger-ui-bundle-v2`` package's files, with no inline
    script (the pages' content security policy allows none) and nothing from a CDN."""
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{app.title} API</title>"
            '<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head><body>'
            '<div id="swagger-ui"></div><script src="/docs/static/swagger-ui-bundle.js"></script>'
            '<script src="/docs/init.js"></script></body></html>')

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> PlainTextResponse:
        return PlainTextResponse(
            'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});',
            media_type="text/javascript")


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """ASGI middleware refusing request bodies over their limit with 413, before the form
    parser spools them: ``max_bytes`` for submissions (paths ending in ``submit`` or
    ``submit/``), ``max_form_bytes`` for every other request; by the ``Content-Length``
    header, or while reading a chunked body."""

    def __init__(self, app, max_bytes: int, max_form_bytes: int):
        self.app, self.max_bytes, self.max_form_bytes = app, max_bytes, max_form_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes if scope["path"].rstrip("/").endswith("submit") else self.max_form_bytes
        too_large = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await too_large(scope, receive, send)
            return
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # FastAPI passes this on from its body parser
                raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        await self.app(scope, counted_receive, send)
