"""What the leaderboard does, as functions on a database session (the web app and the admin
commands both call these; neither holds rules of its own).

Every refusal is a :class:`RefusedError` with the HTTP status it maps to:
401 bad credentials, 403 team not approved / disabled or exercise closed, 404 unknown exercise,
409 second submission, 413 file too large, 422 bad ``datum_id`` or bad file, 429 reveal budget
spent or too many failed logins or password checks, 503 too many password checks waiting
at once.

Numbers sent by clients (``datum_id``, ``exercise_id``, prediction lines) are plain ASCII
integers: no sign but ``-``, no underscores, exponents or other digits.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from underspec.constraints import NATURAL, NON_NEGATIVE, SHARE
from underspec.data.layout import PARTICIPANT_FILES
from underspec.errors import UnderspecError
from underspec.server.accounts import (
    Credentials,
    CredentialsError,
    Verifier,
    hash_password,
    name_skeleton,
    normalise_name,
)
from underspec.server.db import (
    Archive,
    DriverStatement,
    Exercise,
    LoginSession,
    Meta,
    Reveal,
    Submission,
    Team,
    bump_revision,
    get_meta,
    team_by_name,
)
from underspec.server.scoring import score

if TYPE_CHECKING:  # numpy is imported where scores and labels are computed, not at start-up
    import numpy as np

T = TypeVar("T")

MAX_SUBMISSION_BYTES = 2_000_000
MAX_ID = 2**31 - 1  # ids are 32-bit integers in every database
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_EARLIER_REVEALS = (select(Reveal.datum_id)
                    .where(Reveal.team_id == bindparam("team"), Reveal.exercise_id == bindparam("exercise"))
                    .order_by(Reveal.slot))
_REVISION = select(Meta.value).where(Meta.key == "revision")


class RefusedError(UnderspecError):
    """A request the rules refuse; ``status`` is its HTTP status code, ``retry_after`` the
    seconds a client should wait before trying again (429 and 503), if known."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


class PasswordCheckNeeded(Exception):  # noqa: N818 (a signal, not an error)
    """These credentials need the full argon2 check (a first login, a wrong password or an
    unknown name): the caller runs it outside the request's database work, then tries again.
    ``stored_hash`` is the team's hash, None for an unknown name."""

    def __init__(self, stored_hash: str | None):
        super().__init__("password check needed")
        self.stored_hash = stored_hash


def parse_int(text: str | int, name: str, low: int = 0, high: int = MAX_ID) -> int:
    """``text`` as an integer in ``[low, high]``: plain ASCII digits with an optional ``-`` and
    surrounding spaces; else :class:`RefusedError` (422) naming the field ``name``."""
    text = str(text).strip()
    if not _INTEGER.fullmatch(text):
        raise RefusedError(422, f"{name}: expected an integer, got {text[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise RefusedError(422, f"{name}: expected {low} <= {name} <= {high}, got {value}")
    return value


# --- organiser side ----------------------------------------------------------------------------
def _target_groups(answers, labels, classes: list):
    """The fairness group of each target row (label x shortcut value), when the task's
    ``answers/groups.csv`` gives the shortcut of every target row; else None."""
    import numpy as np

    if answers.groups is None or "shortcut" not in answers.groups:
        return None
    target = answers.groups[answers.groups["split"] == "target"]
    if len(target) != len(labels):
        return None
    shortcut = target["shortcut"].to_numpy().astype(np.int64)
    return np.searchsorted(classes, labels) * (shortcut.max() + 1) + shortcut


def _scored_rows(answers, task_dir: Path, n: int):
    """Which target rows count in the score (``answers/unscored.npy`` negated); None: all."""
    unscored = answers.extra.get("unscored")
    if unscored is None:
        return None
    if unscored.shape != (n,):
        raise UnderspecError(f"{task_dir / 'answers' / 'unscored.npy'}: expected {n} booleans")
    return ~unscored.astype(bool)


def _unused_exercise(session: Session, ex_id: int) -> Exercise | None:
    """The exercise ``ex_id`` if it exists and no team has used it in this phase (refused
    otherwise: replacing it would break the scores of its reveals and submissions)."""
    ex = session.get(Exercise, ex_id)
    if ex is not None:
        used = [session.scalar(select(func.count()).select_from(table).where(table.exercise_id == ex_id))
                for table in (Reveal, Submission)]
        if any(used):
            raise UnderspecError(f"exercise {ex_id} ({ex.name}) already has {used[0]} reveals and "
                                 f"{used[1]} submissions in phase {get_phase(session)!r}; give the new "
                                 "exercise another `exercise_id`, or archive these first with admin new-phase")
    return ex


def add_exercise(session: Session, task_dir: str | Path, *, exercise_id: int | None = None,
                 name: str | None = None, points: float | None = None,
                 default_score: float | None = None, budget: int = 5,
                 public_share: float | None = None, split_seed: int | None = None) -> Exercise:
    """Load a generated task directory as an exercise, or replace one with the same id that no
    team has used yet (no reveal, no submission: after :func:`new_phase`, say).

    Parameters
    ----------
    task_dir : path
        A task directory with ``task.json`` and ``answers/y_val.npy``. Optional:
        ``answers/groups.csv`` (target rows give fairness groups: label x shortcut value) and
        ``answers/unscored.npy`` (booleans: rows left out of the score).
    exercise_id, name, points, default_score : override ``task.json``.
    budget : int
        Distinct target rows a team may reveal.
    public_share : float, optional
        Share of the scored rows shown on the live leaderboard (a seeded random subset); the
        rest decides the final ranking.
    split_seed : int, optional
        Seed of that random subset, to reproduce a split on purpose. By default it is drawn
        from the operating system's secret random source, anew for each exercise, so that no
        one can recompute which rows are private.
    """
    import numpy as np

    from underspec.data.challenge import read_answers
    from underspec.files import read_json

    task_dir = Path(task_dir)
    manifest_path = task_dir / "task.json"
    if not manifest_path.exists():
        raise UnderspecError(f"{manifest_path}: file not found (expected a generated task directory)")
    manifest = read_json(manifest_path, "the task.json of a generated task")
    answers = read_answers(task_dir)
    labels = np.asarray(answers.y_val)
    classes = [int(c) for c in manifest.get("classes", np.unique(labels))]
    if labels.ndim != 1 or not np.isin(labels, classes).all():
        raise UnderspecError(f"{task_dir / 'answers' / 'y_val.npy'}: expected 1-D labels among {classes}")
    NATURAL.check("budget", budget)
    for field_name, value, number in (("points", points, NON_NEGATIVE), ("default_score", default_score, SHARE),
                                      ("split_seed", split_seed, NATURAL)):
        if value is not None:
            number.check(field_name, value)
    n = len(labels)
    groups, scored = _target_groups(answers, labels, classes), _scored_rows(answers, task_dir, n)
    public = None
    if public_share is not None:
        if not 0 < public_share < 1:
            raise UnderspecError(f"public_share: expected a number in (0, 1), got {public_share}")
        seed = secrets.randbits(128) if split_seed is None else split_seed
        public = np.random.default_rng(seed).random(n) < public_share
    ex_id = int(manifest["id"] if exercise_id is None else exercise_id)
    if not 0 <= ex_id <= MAX_ID:
        raise UnderspecError(f"id: expected 0 <= id <= {MAX_ID}, got {ex_id}")
    ex = _unused_exercise(session, ex_id)
    ex = ex or Exercise(id=ex_id)
    ex.name = name or manifest.get("name", task_dir.name)
    ex.points = float(manifest.get("points", 1.0) if points is None else points)
    ex.default_score = float(manifest.get("default_score", 0.8) if default_score is None
                             else default_score)
    ex.budget, ex.n_items = int(budget), n
    ex.classes = ",".join(str(c) for c in classes)
    ex.labels = labels.astype("<i8").tobytes()
    ex.groups = None if groups is None else groups.astype("<i8").tobytes()
    ex.scored = None if scored is None else scored.astype(np.uint8).tobytes()
    ex.public = None if public is None else public.astype(np.uint8).tobytes()
    ex.source = str(task_dir.resolve())
    ex.is_open = True
    session.add(ex)
    bump_revision(session)
    session.commit()
    return ex


def add_team(session: Session, name: str, password: str, *, approve: bool = False) -> Team:
    """Register a team (not approved unless ``approve``).

    The name is NFKC-normalised; control and bidi characters are refused (422), and so is a
    name taken or one that looks like a taken one on the leaderboard (409: Cyrillic ``а`` for
    Latin ``a``, another case).
    """
    try:
        name = normalise_name(name)
        password_hash = hash_password(password)
    except CredentialsError as exc:
        raise RefusedError(422, str(exc)) from exc
    skeleton = name_skeleton(name)
    lookalike = next((t for t in session.scalars(select(Team.name)) if name_skeleton(t) == skeleton), None)
    if lookalike is not None:
        raise RefusedError(409, f"team name {name!r} is taken or looks like a taken one; choose another")
    team = Team(name=name, password_hash=password_hash, approved=approve)
    session.add(team)
    try:
        bump_revision(session)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise RefusedError(409, f"team {name!r} already exists") from exc
    return team


def set_team(session: Session, name: str, *, approved: bool | None = None,
             disabled: bool | None = None) -> Team:
    """Approve / disable a team by name."""
    team = team_by_name(session, name)
    if team is None:
        raise UnderspecError(f"team {name!r}: no such team")
    if approved is not None:
        team.approved = approved
    if disabled is not None:
        team.disabled = disabled
    bump_revision(session)
    session.commit()
    return team


def reset_password(session: Session, name: str, password: str) -> Team:
    """Give a team a new password; its browsers are logged out (old cookies stop working)."""
    team = team_by_name(session, name)
    if team is None:
        raise UnderspecError(f"team {name!r}: no such team")
    try:
        team.password_hash = hash_password(password)
    except CredentialsError as exc:
        raise UnderspecError(str(exc)) from exc
    session.execute(delete(LoginSession).where(LoginSession.team_id == team.id))
    bump_revision(session)
    session.commit()
    return team


def set_open(session: Session, exercise_id: int, is_open: bool) -> Exercise:
    """Open or close an exercise for reveals and submissions."""
    ex = session.get(Exercise, exercise_id)
    if ex is None:
        raise UnderspecError(f"exercise {exercise_id}: no such exercise")
    ex.is_open = is_open
    bump_revision(session)
    session.commit()
    return ex


def new_phase(session: Session, phase: str) -> dict:
    """Archive the current results, reveals and submissions, then wipe reveals and submissions.

    Load the new phase's datasets afterwards with :func:`add_exercise` (same ids replace).
    """
    document = {"phase": get_phase(session), "results": results(session, private=True),
                "reveals": [[r.team_id, r.exercise_id, r.datum_id, r.created]
                            for r in session.scalars(select(Reveal))],
                "submissions": [[s.team_id, s.exercise_id, s.created]
                                for s in session.scalars(select(Submission))]}
    session.add(Archive(phase=document["phase"], document=json.dumps(document)))
    session.execute(delete(Reveal))
    session.execute(delete(Submission))
    session.merge(Meta(key="phase", value=phase))
    bump_revision(session)
    session.commit()
    return document


def get_phase(session: Session) -> str:
    return get_meta(session, "phase", "practice")


def init_challenge(session: Session, name: str) -> None:
    """Name the challenge (the database and its schema exist once opened)."""
    session.merge(Meta(key="challenge", value=name))
    bump_revision(session)
    session.commit()


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


# --- entrant side ------------------------------------------------------------------------------
def check_password(snapshot: Snapshot, verifier: Verifier, creds: Credentials) -> Team:
    """The team if this password was already checked right (no argon2, constant time); else
    :class:`PasswordCheckNeeded`, for the caller to run the full check."""
    team = snapshot.teams.get(creds.name)
    stored_hash = team.password_hash if team else None
    if verifier.known(creds, stored_hash):
        return team
    raise PasswordCheckNeeded(stored_hash)


def check_may_play(team: Team) -> Team:
    """The team if it may reveal and submit; 403 when it is disabled or not approved yet."""
    if team.disabled:
        raise RefusedError(403, f"team {team.name!r} is disabled")
    if not team.approved:
        raise RefusedError(403, f"team {team.name!r} is not approved yet; ask the organisers")
    return team


def open_exercise(snapshot: Snapshot, exercise_id: str | int) -> Exercise:
    """The exercise with this id, refused if unknown (404) or closed (403)."""
    ex_id = parse_int(exercise_id, "exercise_id", 0)
    ex = snapshot.exercises.get(ex_id)
    if ex is None:
        raise RefusedError(404, f"exercise_id {ex_id}: no such exercise")
    if not ex.is_open:
        raise RefusedError(403, f"exercise {ex_id} is closed")
    return ex


class KnownReveals:
    """The rows each team revealed on each exercise, as far as this process has seen them, for
    one revision of the board: a reveal of a row already revealed, or past the budget, then
    needs no read of the reveal table (on PostgreSQL, one round trip of two).

    Within a revision reveals only grow (a new phase, the one thing that deletes them, raises
    the revision), so a remembered list never holds a row the team has not revealed. It may miss
    rows another process recorded: the next new reveal then finds its slot taken (the unique
    constraint), the list is forgotten and read again. A row is added only when the list holds
    exactly the slots before it, so it stays a prefix of the table.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._revision: str | None = None
        self._rows: dict[tuple[int, int], list[int]] = {}

    def get(self, revision: str, key: tuple[int, int]) -> list[int] | None:
        with self._lock:
            rows = self._rows.get(key) if revision == self._revision else None
            return None if rows is None else list(rows)

    def put(self, revision: str, key: tuple[int, int], rows: list[int]) -> None:
        with self._lock:
            if revision != self._revision:
                self._revision, self._rows = revision, {}
            self._rows[key] = list(rows)

    def add(self, revision: str, key: tuple[int, int], slot: int, datum: int) -> None:
        with self._lock:
            rows = self._rows.get(key) if revision == self._revision else None
            if rows is not None and len(rows) == slot:
                rows.append(datum)
            else:
                self._rows.pop(key, None)

    def forget(self, key: tuple[int, int]) -> None:
        with self._lock:
            self._rows.pop(key, None)


class RevealTable:
    """The reveal table on one raw DBAPI connection in autocommit: what a reveal reads and
    writes, at the driver's speed (:class:`~underspec.server.db.DriverStatement`), through
    the process's :class:`KnownReveals` when given one (after :meth:`revision` was read).

    Its methods are coroutines so that one :func:`reveal` serves both kinds of connection: on
    a blocking DBAPI connection they never suspend (run them with :func:`run_to_end`); on a
    psycopg asyncio connection (``asynchronous``) they wait on the event loop.
    """

    def __init__(self, connection, statements: RevealStatements, known: KnownReveals | None = None,
                 asynchronous: bool = False):
        self.connection, self.statements, self.known = connection, statements, known
        self.asynchronous = asynchronous
        self._revision: str | None = None

    async def _execute(self, statement: DriverStatement, **values) -> list[tuple]:
        if self.asynchronous:
            return await statement.execute_async(self.connection, **values)
        return statement.execute(self.connection, **values)

    async def revision(self) -> str:
        rows = await self._execute(self.statements.revision)
        self._revision = rows[0][0] if rows else ""
        return self._revision

    def _remembered(self) -> bool:
        return self.known is not None and self._revision is not None

    async def earlier(self, team_id: int, exercise_id: int) -> list[int]:
        """The rows this team revealed on this exercise, in the order it revealed them."""
        key = (team_id, exercise_id)
        if self._remembered():
            rows = self.known.get(self._revision, key)
            if rows is not None:
                return rows
        found = await self._execute(self.statements.earlier, team=team_id, exercise=exercise_id)
        rows = [int(d) for (d,) in found]
        if self._remembered():
            self.known.put(self._revision, key, rows)
        return rows

    async def take(self, team_id: int, exercise_id: int, datum: int, slot: int) -> bool:
        """Record a reveal in ``slot``; False when another request took that slot (or that row)
        first: the unique constraints decide."""
        key = (team_id, exercise_id)
        try:
            await self._execute(self.statements.insert, team_id=team_id, exercise_id=exercise_id,
                                datum_id=datum, slot=slot, created=time.time())
        except self.statements.integrity_error:
            if self.known is not None:
                self.known.forget(key)
            return False
        if self._remembered():
            self.known.add(self._revision, key, slot, datum)
        return True


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (a :class:`RevealTable` on a blocking
    connection), without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the coroutine waited for something: it needs an event loop")


class RevealStatements:
    """The reveal's statements compiled for one engine's driver."""

    def __init__(self, dialect):
        self.revision = DriverStatement(_REVISION, dialect)
        self.earlier = DriverStatement(_EARLIER_REVEALS, dialect)
        self.insert = DriverStatement(insert(Reveal).values(
            {c: bindparam(c) for c in ("team_id", "exercise_id", "datum_id", "slot", "created")}), dialect)
        self.integrity_error = dialect.loaded_dbapi.IntegrityError


async def reveal(table: RevealTable, team: Team, ex: Exercise, datum_id: str | int) -> dict:
    """Reveal one target label, as the original server answered.

    Revealing a row the team already revealed returns it again for free. The budget holds
    under concurrency: each new reveal takes the next free slot, and the unique constraint on
    (team, exercise, slot) lets only one of two simultaneous requests have it.
    """
    try:
        datum = parse_int(datum_id, "datum_id", -(10**18), 10**18)
    except RefusedError as exc:
        raise RefusedError(422, f"datum_id: expected an integer row of X_val, got {str(datum_id)[:40]!r}") from exc
    if not 0 <= datum < ex.n_items:
        raise RefusedError(422, f"datum_id: expected 0 <= datum_id < {ex.n_items}, got {datum}")
    for _attempt in range(50):
        previous = await table.earlier(team.id, ex.id)
        if datum in previous:
            break
        if len(previous) >= ex.budget:
            raise RefusedError(429, f"reveal budget spent: {ex.budget} of {ex.budget} rows revealed "
                               f"for exercise {ex.id}")
        if await table.take(team.id, ex.id, datum, len(previous)):
            break  # else another request took the slot or revealed the row: look again
    else:
        raise RefusedError(503, "too much contention on this team's reveals; retry")
    label = ex.label(datum)
    return {"exercise_id": ex.id, "datum_id": datum, "label": label,
            "previously revealed": [d for d in previous if d != datum]}


def parse_submission(content: bytes, n_items: int, classes: list[int]) -> np.ndarray:
    """Predictions from a CSV with no header and no index: one raw class value per line.

    Raises :class:`RefusedError` (422) naming the first bad line.
    """
    import numpy as np

    if len(content) > MAX_SUBMISSION_BYTES:
        raise RefusedError(413, f"file: larger than {MAX_SUBMISSION_BYTES} bytes")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusedError(422, f"file: not UTF-8 text (byte {exc.start})") from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise RefusedError(422, f"file: empty; expected {n_items} lines, one label per target row")
    values = np.empty(len(lines), np.int64)
    for i, line in enumerate(lines, start=1):
        cell = line.strip().lstrip("\ufeff")
        if "," in cell or ";" in cell:
            raise RefusedError(422, f"file line {i}: {line[:40]!r} has several columns; expected one "
                               "label per line, no index")
        number = int(cell) if _INTEGER.fullmatch(cell) else None
        if number is None or number not in classes:
            hint = (" (no header line)" if i == 1 and not cell[:1].isdigit() else
                    " (plain integers: 1, not 1.0 or 1e0)" if number is None else "")
            raise RefusedError(422, f"file line {i}: {line[:40]!r} is not one of the classes "
                               f"{classes}{hint}")
        values[i - 1] = number
    if len(values) != n_items:
        raise RefusedError(422, f"file: {len(values)} lines; expected {n_items}, one per target row")
    return values


def submit(session: Session, team: Team, ex: Exercise, content: bytes) -> dict:
    """Accept a team's one submission for an exercise and return its live score."""
    pred = parse_submission(content, ex.n_items, ex.class_values())
    session.add(Submission(team_id=team.id, exercise_id=ex.id,
                           predictions=pred.astype("<i8").tobytes()))
    try:
        bump_revision(session)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise RefusedError(409, f"team {team.name!r} already submitted for exercise {ex.id}; "
                           "one submission per exercise") from exc
    live = score(pred, ex.label_array(), scored=ex.mask("scored"), public=ex.mask("public"),
                 groups=ex.group_array())
    return {"exercise_id": ex.id, "accepted": True, "lines": int(ex.n_items), **live}


# --- results -----------------------------------------------------------------------------------
def results(session: Session, *, private: bool = False) -> list[dict]:
    """The leaderboard: per team, each exercise's score (or its default), and the total.

    Sorted by total, best first; ``rank`` ties share a rank. Only approved, enabled teams.
    """
    import numpy as np

    exercises = list(session.scalars(select(Exercise).options(undefer("*")).order_by(Exercise.id)))
    teams = list(session.scalars(select(Team).where(Team.approved, ~Team.disabled)))
    subs = {(s.team_id, s.exercise_id): s for s in session.scalars(select(Submission))}
    truth = {ex.id: {"labels": ex.label_array(), "scored": ex.mask("scored"),
                     "public": ex.mask("public"), "groups": ex.group_array()} for ex in exercises}
    rows = []
    for team in teams:
        row = {"team": team.name, "scores": {}, "total": 0.0, "submitted": 0}
        for ex in exercises:
            sub = subs.get((team.id, ex.id))
            if sub is not None and len(sub.predictions) != 8 * ex.n_items:
                sub = None  # from before the exercise was replaced: not this exercise's rows
            if sub is None:
                cell = {"accuracy": ex.default_score, "default": True}
            else:
                pred = np.frombuffer(sub.predictions, "<i8")
                cell = {**score(pred, **truth[ex.id], private=private), "default": False}
                row["submitted"] += 1
                if cell["accuracy"] is None:
                    cell["accuracy"] = ex.default_score
            row["scores"][ex.id] = cell
            row["total"] += ex.points * cell["accuracy"]
        row["total"] = round(row["total"], 4)
        rows.append(row)
    rows.sort(key=lambda r: (-r["total"], r["submitted"] == 0, r["team"]))
    for i, row in enumerate(rows):
        row["rank"] = rows[i - 1]["rank"] if i and rows[i - 1]["total"] == row["total"] else i + 1
    return rows


@dataclass
class Snapshot:
    """What the database held at one ``revision``: teams by name and by id, open and closed
    exercises (labels loaded), the challenge's name, and the leaderboard rows once computed.
    Its objects are detached from any session: read them, never change them."""

    revision: str
    teams: dict[str, Team]
    team_ids: dict[int, Team]
    exercises: dict[int, Exercise]
    challenge: str
    phase: str
    rows: dict[bool, list[dict]] = field(default_factory=dict)
    pages: dict[str, bytes] = field(default_factory=dict)  # pages every anonymous visitor sees alike

    def exercise(self, exercise_id: str) -> Exercise | None:
        """The exercise a URL path names (``/exercises/3/``), or None: unknown, or not a plain
        non-negative integer."""
        try:
            return self.exercises.get(parse_int(exercise_id, "exercise_id"))
        except RefusedError:
            return None

    def results(self, session: Session, *, private: bool = False) -> list[dict]:
        """The leaderboard rows (:func:`results`), computed once per revision."""
        if private not in self.rows:
            self.rows[private] = results(session, private=private)
        return self.rows[private]


class BoardCache:
    """The :class:`Snapshot` of the database, read anew only when its ``revision`` changes.

    Every change to teams, exercises, submissions or the phase raises the revision in its own
    transaction, so one small query per request tells whether the remembered snapshot is still
    true, also when other processes (``underspec admin``) write.
    """

    def __init__(self):
        self._snapshot: Snapshot | None = None

    def current(self, revision: str) -> Snapshot | None:
        """The snapshot if it is the one of ``revision``, else None."""
        snap = self._snapshot
        return snap if snap is not None and snap.revision == revision else None

    def get(self, session: Session) -> Snapshot:
        # read first, so that a later change shows as a miss
        revision = session.connection().execute(_REVISION).scalar() or ""
        snap = self.current(revision)
        if snap is None:
            teams = list(session.scalars(select(Team)))
            exercises = list(session.scalars(select(Exercise).options(undefer("*")).order_by(Exercise.id)))
            for obj in [*teams, *exercises]:  # detached now: a later rollback cannot expire them
                session.expunge(obj)
            snap = Snapshot(revision, {t.name: t for t in teams}, {t.id: t for t in teams},
                            {ex.id: ex for ex in exercises},
                            get_meta(session, "challenge", "underspec challenge"), get_phase(session))
            self._snapshot = snap
        return snap


def exercise_list(session: Session) -> list[Exercise]:
    return list(session.scalars(select(Exercise).order_by(Exercise.id)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_login(session: Session, team: Team) -> str:
    """A new login session for ``team``: returns its random token (the browser's cookie holds
    it; the database only its hash)."""
    token = secrets.token_urlsafe(24)
    session.add(LoginSession(token_hash=_token_hash(token), team_id=team.id, created=time.time()))
    session.commit()
    return token


def login_team(session: Session, snapshot: Snapshot, token: str | None) -> Team | None:
    """The team logged in with ``token``, or None (unknown, logged out or password reset)."""
    if not token:
        return None
    team_id = session.scalar(select(LoginSession.team_id).where(LoginSession.token_hash == _token_hash(token)))
    return None if team_id is None else snapshot.team_ids.get(team_id)


def end_login(session: Session, token: str | None) -> None:
    """Log out: the token stops working, wherever a copy of the cookie is."""
    if token:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
        session.commit()


def exercise_info(ex: Exercise) -> dict:
    """What entrants may know of an exercise: its rules and files, never its labels."""
    return {"id": ex.id, "name": ex.name, "points": ex.points, "default_score": ex.default_score,
            "budget": ex.budget, "classes": ex.class_values(), "target_rows": ex.n_items,
            "open": ex.is_open, "files": [f"/exercises/{ex.id}/{n}" for n in PARTICIPANT_FILES]}


def team_status(session: Session, team: Team, ex: Exercise) -> dict:
    """One team's own state on an exercise: its reveals (with labels), budget left, and its
    submission's live score. Nothing about other teams."""
    import numpy as np

    revealed = [int(d) for d in session.scalars(
        select(Reveal.datum_id).where(Reveal.team_id == team.id, Reveal.exercise_id == ex.id)
        .order_by(Reveal.slot))]
    labels = ex.label_array()
    sub = session.scalars(select(Submission).where(Submission.team_id == team.id,
                                                   Submission.exercise_id == ex.id)).first()
    live = None
    if sub is not None:
        live = score(np.frombuffer(sub.predictions, "<i8"), labels, scored=ex.mask("scored"),
                     public=ex.mask("public"), groups=ex.group_array())
    return {"revealed": [(d, int(labels[d])) for d in revealed],
            "left": max(0, ex.budget - len(revealed)), "submitted": sub is not None, "live": live}
