"""What the leaderboard does, as functions on a database session (the web app and the admin
commands both call these; neither holds rules of its own).

Every refusal is a :class:`RefusedError` with the HTTP status it maps to:
401 bad credentials, 403 team not approved / disabled or exercise closed, 404 unknown exercise,
409 second submission, 413 file too large, 422 bad ``datum_id`` or bad file, 429 reveal budget
spent or too many failed logins.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from underspec.data.layout import PARTICIPANT_FILES
from underspec.errors import UnderspecError
from underspec.server.accounts import Verifier, hash_password
from underspec.server.db import (
    Archive,
    Exercise,
    Meta,
    Reveal,
    Submission,
    Team,
    bump_revision,
    get_meta,
    team_by_name,
)
from underspec.server.scoring import score

MAX_SUBMISSION_BYTES = 2_000_000


class RefusedError(UnderspecError):
    """A request the rules refuse; ``status`` is its HTTP status code."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- organiser side ----------------------------------------------------------------------------
def add_exercise(session: Session, task_dir: str | Path, *, exercise_id: int | None = None,
                 name: str | None = None, points: float | None = None,
                 default_score: float | None = None, budget: int = 5,
                 public_share: float | None = None, seed: int = 0) -> Exercise:
    """Load a generated task directory as an exercise (or replace the one with the same id).

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
    """
    from underspec.data.challenge import read_answers

    task_dir = Path(task_dir)
    manifest_path = task_dir / "task.json"
    if not manifest_path.exists():
        raise UnderspecError(f"{manifest_path}: file not found (expected a generated task directory)")
    manifest = json.loads(manifest_path.read_text())
    answers = read_answers(task_dir)
    labels = np.asarray(answers.y_val)
    classes = [int(c) for c in manifest.get("classes", np.unique(labels))]
    if labels.ndim != 1 or not np.isin(labels, classes).all():
        raise UnderspecError(f"{task_dir / 'answers' / 'y_val.npy'}: expected 1-D labels among {classes}")
    if budget < 0:
        raise UnderspecError(f"--budget: expected a number >= 0, got {budget}")
    n = len(labels)
    groups = None
    if answers.groups is not None and "shortcut" in answers.groups:
        target = answers.groups[answers.groups["split"] == "target"]
        if len(target) == n:
            shortcut = target["shortcut"].to_numpy().astype(np.int64)
            groups = np.searchsorted(classes, labels) * (shortcut.max() + 1) + shortcut
    scored = answers.extra.get("unscored")
    if scored is not None:
        if scored.shape != (n,):
            raise UnderspecError(f"{task_dir / 'answers' / 'unscored.npy'}: expected {n} booleans")
        scored = ~scored.astype(bool)
    public = None
    if public_share is not None:
        if not 0 < public_share < 1:
            raise UnderspecError(f"--public-share: expected a number in (0, 1), got {public_share}")
        public = np.random.default_rng(seed).random(n) < public_share
    ex_id = int(manifest["id"] if exercise_id is None else exercise_id)
    ex = session.get(Exercise, ex_id) or Exercise(id=ex_id)
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
    """Register a team (not approved unless ``approve``); refused if the name is taken."""
    name = name.strip()
    if not name or len(name) > 64 or any(c in name for c in "\r\n\t"):
        raise RefusedError(422, "team name: expected 1 to 64 characters on one line")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise RefusedError(422, str(exc)) from exc
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
    session.commit()


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


# --- entrant side ------------------------------------------------------------------------------
def check_password(session: Session, verifier: Verifier, name: str, password: str) -> Team:
    """The team if the password is right (approved or not); else 401, or 429 when throttled."""
    wait = verifier.wait_seconds(name)
    if wait > 0:
        raise RefusedError(429, f"too many failed logins for this team; retry in {wait:.0f} s")
    team = team_by_name(session, name)
    if not verifier.check(name, team.password_hash if team else None, password) or team is None:
        raise RefusedError(401, "bad username or password")
    return team


def check_may_play(team: Team) -> Team:
    """The team if it may reveal and submit; 403 when it is disabled or not approved yet."""
    if team.disabled:
        raise RefusedError(403, f"team {team.name!r} is disabled")
    if not team.approved:
        raise RefusedError(403, f"team {team.name!r} is not approved yet; ask the organisers")
    return team


def authenticate(session: Session, verifier: Verifier, name: str, password: str) -> Team:
    """The team if the credentials are right and it may play; else :class:`RefusedError`."""
    return check_may_play(check_password(session, verifier, name, password))


def open_exercise(session: Session, exercise_id: str | int) -> Exercise:
    """The exercise with this id, refused if unknown (404) or closed (403)."""
    try:
        ex_id = int(exercise_id)
    except (TypeError, ValueError) as exc:
        raise RefusedError(422, f"exercise_id: expected an integer, got {exercise_id!r}") from exc
    ex = session.get(Exercise, ex_id)
    if ex is None:
        raise RefusedError(404, f"exercise_id {ex_id}: no such exercise")
    if not ex.is_open:
        raise RefusedError(403, f"exercise {ex_id} is closed")
    return ex


def reveal(session: Session, team: Team, ex: Exercise, datum_id: str | int) -> dict:
    """Reveal one target label, as the original server answered.

    Revealing a row the team already revealed returns it again for free. The budget holds
    under concurrency: each new reveal takes the next free slot, and the unique constraint on
    (team, exercise, slot) lets only one of two simultaneous requests have it.
    """
    try:
        datum = int(str(datum_id).strip())
    except ValueError as exc:
        raise RefusedError(422, f"datum_id: expected an integer row of X_val, got {datum_id!r}") from exc
    if not 0 <= datum < ex.n_items:
        raise RefusedError(422, f"datum_id: expected 0 <= datum_id < {ex.n_items}, got {datum}")
    for _attempt in range(50):
        earlier = session.execute(
            select(Reveal.datum_id, Reveal.slot).where(Reveal.team_id == team.id,
                                                       Reveal.exercise_id == ex.id)
            .order_by(Reveal.slot)).all()
        previous = [int(d) for d, _ in earlier]
        if datum in previous:
            break
        if len(previous) >= ex.budget:
            raise RefusedError(429, f"reveal budget spent: {ex.budget} of {ex.budget} rows revealed "
                               f"for exercise {ex.id}")
        session.add(Reveal(team_id=team.id, exercise_id=ex.id, datum_id=datum,
                           slot=len(previous)))
        try:
            session.commit()
            break
        except IntegrityError:
            session.rollback()  # another request took the slot or revealed the row: look again
    else:
        raise RefusedError(503, "too much contention on this team's reveals; retry")
    label = int(ex.label_array()[datum])
    return {"exercise_id": ex.id, "datum_id": datum, "label": label,
            "previously revealed": [d for d in previous if d != datum]}


def parse_submission(content: bytes, n_items: int, classes: list[int]) -> np.ndarray:
    """Predictions from a CSV with no header and no index: one raw class value per line.

    Raises :class:`RefusedError` (422) naming the first bad line.
    """
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
        try:
            number = float(cell)
        except ValueError:
            number = None
        if number is None or not number.is_integer() or int(number) not in classes:
            hint = " (no header line)" if i == 1 and number is None else ""
            raise RefusedError(422, f"file line {i}: {line[:40]!r} is not one of the classes "
                               f"{classes}{hint}")
        values[i - 1] = int(number)
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
    exercises = list(session.scalars(select(Exercise).options(undefer("*")).order_by(Exercise.id)))
    teams = list(session.scalars(select(Team).where(Team.approved, ~Team.disabled)))
    subs = {(s.team_id, s.exercise_id): s for s in session.scalars(select(Submission))}
    truth = {ex.id: {"labels": ex.label_array(), "scored": ex.mask("scored"),
                     "public": ex.mask("public"), "groups": ex.group_array()} for ex in exercises}
    rows = []
    for team in teams:
        row = {"team": team.name, "scores": {}, "total": 0.0}
        for ex in exercises:
            sub = subs.get((team.id, ex.id))
            if sub is None:
                cell = {"accuracy": ex.default_score, "default": True}
            else:
                pred = np.frombuffer(sub.predictions, "<i8")
                cell = {**score(pred, **truth[ex.id], private=private), "default": False}
                if cell["accuracy"] is None:
                    cell["accuracy"] = ex.default_score
            row["scores"][ex.id] = cell
            row["total"] += ex.points * cell["accuracy"]
        row["total"] = round(row["total"], 4)
        rows.append(row)
    rows.sort(key=lambda r: (-r["total"], r["team"]))
    for i, row in enumerate(rows):
        row["rank"] = rows[i - 1]["rank"] if i and rows[i - 1]["total"] == row["total"] else i + 1
    return rows


class ResultsCache:
    """:func:`results` remembered until the database's ``revision`` changes.

    Every change to what the leaderboard shows (a submission, a team or exercise changed, a new
    phase) raises the revision in its own transaction, so one small query per call tells whether
    the remembered rows are still true, also when other processes (``underspec admin``) write.
    """

    def __init__(self):
        self._rows: dict[bool, tuple[str, list[dict]]] = {}

    def get(self, session: Session, *, private: bool = False) -> list[dict]:
        revision = get_meta(session, "revision")  # read first: a later change shows as a miss
        hit = self._rows.get(private)
        if hit is None or hit[0] != revision:
            hit = (revision, results(session, private=private))
            self._rows[private] = hit
        return hit[1]


def exercise_list(session: Session) -> list[Exercise]:
    return list(session.scalars(select(Exercise).order_by(Exercise.id)))


def exercise_info(ex: Exercise) -> dict:
    """What entrants may know of an exercise: its rules and files, never its labels."""
    return {"id": ex.id, "name": ex.name, "points": ex.points, "default_score": ex.default_score,
            "budget": ex.budget, "classes": ex.class_values(), "target_rows": ex.n_items,
            "open": ex.is_open, "files": [f"/exercises/{ex.id}/{n}" for n in PARTICIPANT_FILES]}


def team_status(session: Session, team: Team, ex: Exercise) -> dict:
    """One team's own state on an exercise: its reveals (with labels), budget left, and its
    submission's live score. Nothing about other teams."""
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
