"""Fixtures for the leaderboard tests: a database (SQLite file, or the PostgreSQL of
``UNDERSPEC_TEST_DB``), a board with one exercise and one approved team, an in-process client,
and a live uvicorn server on a loopback port."""

from __future__ import annotations

import os
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from underspec.server import service
from underspec.server.app import create_app
from underspec.server.db import Base, Meta, make_engine, open_database

PASSWORD = "correct horse battery"


@pytest.fixture
def db_url(tmp_path):
    url = os.environ.get("UNDERSPEC_TEST_DB")
    if not url:
        return str(tmp_path / "board.db")
    engine = make_engine(url)  # a fresh schema on the shared PostgreSQL database
    Base.metadata.drop_all(engine)
    Meta.__table__.drop(engine, checkfirst=True)
    engine.dispose()
    return url


@pytest.fixture
def board(db_url, tiny_task_dir):
    """A database with the tiny task as exercise 1 and an approved team ``alpha``."""
    with open_database(db_url)() as session:
        service.add_exercise(session, tiny_task_dir, budget=5)
        service.add_team(session, "alpha", PASSWORD, approve=True)
    return db_url


@pytest.fixture
def client(board):
    with TestClient(create_app(board)) as c:
        yield c


@pytest.fixture
def live(board):
    """The app served by uvicorn on a free loopback port, in a thread."""
    config = uvicorn.Config(create_app(board), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
