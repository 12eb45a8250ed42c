"""The entrant's side of the leaderboard: reveal, submit, and an oracle for ``underspec solve``.

Credentials come from the environment (``UNDERSPEC_USERNAME``, ``UNDERSPEC_PASSWORD``) or from a
JSON config file (``{"username": ..., "password": ..., "server": ...}``, by default
``~/.config/underspec/credentials.json``); they are never printed. The server URL comes from the
``--server`` option, ``UNDERSPEC_SERVER``, the config file, or ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from underspec.errors import UnderspecError
from underspec.oracles import BudgetSpentError

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_CONFIG = Path("~/.config/underspec/credentials.json")


class LeaderboardError(UnderspecError):
    """The server refused a request; ``status`` is its HTTP status code."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class LeaderboardClient:
    """Calls ``/reveal/`` and ``/submit/`` of an underspec (or the original) leaderboard."""

    server: str
    username: str
    password: str = field(repr=False)
    timeout: float = 30.0

    @classmethod
    def from_environment(cls, server: str | None = None,
                         config: str | Path | None = None) -> LeaderboardClient:
        """Credentials from the environment, else from the config file."""
        path = Path(config or os.environ.get("UNDERSPEC_CONFIG", DEFAULT_CONFIG)).expanduser()
        stored = {}
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise UnderspecError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        elif config is not None:
            raise UnderspecError(f"{path}: file not found (expected a JSON credentials file)")
        username = os.environ.get("UNDERSPEC_USERNAME") or stored.get("username")
        password = os.environ.get("UNDERSPEC_PASSWORD") or stored.get("password")
        if not username or not password:
            raise UnderspecError("credentials: set UNDERSPEC_USERNAME and UNDERSPEC_PASSWORD, "
                                 f"or write username and password in {path}")
        server = server or os.environ.get("UNDERSPEC_SERVER") or stored.get("server") or DEFAULT_SERVER
        return cls(server.rstrip("/"), username, password)

    def _post(self, path: str, data: dict, files: dict | None = None) -> dict:
        form = {"username": self.username, "password": self.password, **data}
        try:
            reply = httpx.post(self.server + path, data=form, files=files, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise UnderspecError(f"{self.server}{path}: no answer ({exc.__class__.__name__}: {exc})") from exc
        try:
            body = reply.json()
        except ValueError:
            body = {"detail": reply.text[:200]}
        if reply.status_code != 200:
            raise LeaderboardError(reply.status_code, f"{self.server}{path}: refused "
                                   f"({reply.status_code}): {body.get('detail', body)}")
        return body

    def reveal(self, exercise_id: int, datum_id: int) -> dict:
        """The server's answer: ``exercise_id, datum_id, label, previously revealed``."""
        return self._post("/reveal/", {"exercise_id": str(exercise_id), "datum_id": str(datum_id)})

    def submit(self, exercise_id: int, csv_path: str | Path) -> dict:
        """Upload a predictions CSV (no header, one label per target row)."""
        path = Path(csv_path)
        if not path.is_file():
            raise UnderspecError(f"{path}: file not found (expected a predictions CSV)")
        with path.open("rb") as handle:
            return self._post("/submit/", {"exercise_id": str(exercise_id)},
                              files={"file": (path.name, handle, "text/csv")})


@dataclass
class HttpOracle:
    """An oracle that spends the team's real reveal budget on the server."""

    client: LeaderboardClient
    exercise_id: int

    @classmethod
    def connect(cls, server: str, exercise_id: int | None, config: str | None = None) -> HttpOracle:
        """The oracle of exercise ``exercise_id`` on ``server``, with the team's credentials
        (:meth:`LeaderboardClient.from_environment`)."""
        if exercise_id is None:
            raise UnderspecError(f"exercise: the oracle {server} is a leaderboard; give the exercise id")
        return cls(LeaderboardClient.from_environment(server=server, config=config), exercise_id)

    def reveal(self, index: int) -> int:
        try:
            return int(self.client.reveal(self.exercise_id, int(index))["label"])
        except LeaderboardError as exc:
            if exc.status == 429 and "budget" in str(exc):
                raise BudgetSpentError(str(exc)) from exc
            raise
