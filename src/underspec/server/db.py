"""The leaderboard's database: tables, engine, and the versioned schema.

SQLite by default (a file, WAL mode, so that readers never wait for the writer), PostgreSQL by
URL (``postgresql+psycopg://user@host/db``). Every query goes through the SQLAlchemy ORM with
bound parameters. The schema carries a version number in the ``meta`` table; :func:`migrate`
brings an older database up to :data:`SCHEMA_VERSION` on start, step by step.

Two unique constraints make the contest rules hold under concurrency without locks that only
one database has: a team's reveals on an exercise take numbered slots ``0 .. budget-1`` (unique
per team and exercise, so two simultaneous reveals cannot both take the last slot), and a team
has at most one submission per exercise and phase.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from underspec.errors import UnderspecError

if TYPE_CHECKING:  # numpy is imported where arrays are made: the server answers its first requests without it
    import numpy as np

SCHEMA_VERSION = 3
DEFAULT_URL = "sqlite:///underspec-leaderboard.db"


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value settings: ``schema_version``, ``challenge`` (its name), ``phase``, ``secret_key``,
    and ``revision``, a counter raised by every change to what the leaderboard shows."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class Exercise(Base):
    """One task of the challenge; its target labels never leave the server but as reveals."""

    __tablename__ = "exercise"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    points: Mapped[float] = mapped_column(Float, default=1.0)
    default_score: Mapped[float] = mapped_column(Float, default=0.8)
    budget: Mapped[int] = mapped_column(Integer, default=5)
    classes: Mapped[str] = mapped_column(Text)  # comma-separated raw class values
    n_items: Mapped[int] = mapped_column(Integer)
    labels: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # int64 little-endian, one per target row
    groups: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True, nullable=True)  # int64 codes
    scored: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True, nullable=True)  # uint8 0/1
    public: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True, nullable=True)  # uint8 0/1
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(Text, default="")  # the task directory it came from

    def class_values(self) -> list[int]:
        return [int(v) for v in self.classes.split(",")]

    def label(self, row: int) -> int:
        """The label of target row ``row`` (a reveal reads one: no array needed)."""
        return int.from_bytes(self.labels[8 * row:8 * row + 8], "little", signed=True)

    def label_array(self) -> np.ndarray:
        import numpy as np

        return np.frombuffer(self.labels, dtype="<i8")

    def mask(self, name: str) -> np.ndarray:
        """``scored`` or ``public`` as a boolean array (all True when not set)."""
        import numpy as np

        raw = getattr(self, name)
        return np.ones(self.n_items, bool) if raw is None else np.frombuffer(raw, np.uint8) > 0

    def group_array(self) -> np.ndarray | None:
        import numpy as np

        return None if self.groups is None else np.frombuffer(self.groups, dtype="<i8")


class Reveal(Base):
    __tablename__ = "reveal"
    __table_args__ = (UniqueConstraint("team_id", "exercise_id", "datum_id"),
                      UniqueConstraint("team_id", "exercise_id", "slot"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercise.id"))
    datum_id: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class Submission(Base):
    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("team_id", "exercise_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercise.id"))
    predictions: Mapped[bytes] = mapped_column(LargeBinary)  # int64 raw class values
    created: Mapped[float] = mapped_column(Float, default=time.time)


class LoginSession(Base):
    """A browser's login: the hash of the random token its cookie carries. Logging out or a
    password reset deletes it, so a copied cookie stops working at once."""

    __tablename__ = "login_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class Archive(Base):
    """What a new phase wiped: one JSON document per phase (reveals, submissions, scores)."""

    __tablename__ = "archive"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float, default=time.time)


def make_engine(url: str | None = None, *, lock_wait: float = 30.0) -> Engine:
    """An engine for ``url`` (a SQLite path or file URL, or any SQLAlchemy URL); on SQLite, a
    statement waits at most ``lock_wait`` seconds for another connection's write lock."""
    url = url or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": lock_wait, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip on every checkout (a third of a reveal on PostgreSQL).
    # A connection the server dropped (a restart) is detected when used instead, and the
    # leaderboard retries that request once on a fresh one (server/board.py).
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


# Step k brings a database from version k - 1 to version k. Version 0 is an empty database.
def _add_revision(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.merge(Meta(key="revision", value="0"))


MIGRATIONS: dict[int, Callable[[Engine], None]] = {
    1: lambda engine: Base.metadata.create_all(engine),
    2: _add_revision,
    3: lambda engine: LoginSession.__table__.create(engine, checkfirst=True),
}


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema to :data:`SCHEMA_VERSION`; returns the version found."""
    Meta.__table__.create(engine, checkfirst=True)
    with Session(engine) as session:
        row = session.get(Meta, "schema_version")
        found = int(row.value) if row else 0
    if found > SCHEMA_VERSION:
        raise UnderspecError(f"database schema version {found} is newer than this underspec "
                             f"({SCHEMA_VERSION}); upgrade underspec")
    for version in range(found + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](engine)
        with Session(engine) as session, session.begin():
            session.merge(Meta(key="schema_version", value=str(version)))
    return found


def open_database(url: str | None = None) -> sessionmaker[Session]:
    """Engine + migrated schema; returns a session factory.

    Raises
    ------
    UnderspecError
        The database cannot be opened or is not one (a folder, a file of something else, a
        server that refuses): the message names it (never its password).
    """
    shown = url or DEFAULT_URL
    if "://" not in shown and Path(shown).expanduser().is_dir():
        raise UnderspecError(f"{shown}: is a folder; expected a SQLite file (or a database URL)")
    engine = make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:160]
        raise UnderspecError(f"{shown}: cannot open the leaderboard database ({reason})") from exc
    return sessionmaker(engine, expire_on_commit=False)


def get_meta(session: Session, key: str, default: str = "") -> str:
    row = session.get(Meta, key)
    return row.value if row else default


def secret_key(factory: sessionmaker[Session]) -> bytes:
    """The database's random key for signing cookies (made on first use, kept across restarts,
    so logged-in browsers stay logged in; never exported)."""
    with factory() as session:
        if not get_meta(session, "secret_key"):
            session.add(Meta(key="secret_key", value=secrets.token_hex(32)))
            try:
                session.commit()
            except IntegrityError:  # another process made it first
                session.rollback()
        return bytes.fromhex(get_meta(session, "secret_key"))


def bump_revision(session: Session) -> None:
    """Count a change to what the leaderboard shows, in the caller's transaction (an atomic
    increment, so concurrent changes each count)."""
    session.execute(update(Meta).where(Meta.key == "revision")
                    .values(value=cast(cast(Meta.value, Integer) + 1, String)))


class DriverStatement:
    """A Core statement compiled once for an engine's driver, run on a raw DBAPI connection.

    For the two or three statements that every reveal runs, SQLAlchemy's own per-statement
    work (about 80-100 us each on the 2-core machines here) is most of the cost; the driver's
    is 5 to 10 us. The statement is still written in SQLAlchemy (no SQL strings), compiled for
    the dialect's parameter style (``?`` for SQLite, ``%(name)s`` for psycopg).
    """

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql, self.defaults = str(compiled), dict(compiled.params)
        self.order = compiled.positiontup if compiled.positional else None

    def execute(self, dbapi_connection, **values) -> list[tuple]:
        """Run with ``values`` for the bound parameters; the rows it returns (or none)."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, self._parameters(values))
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()

    async def execute_async(self, connection, **values) -> list[tuple]:
        """:meth:`execute` on a psycopg asyncio connection."""
        async with connection.cursor() as cursor:
            await cursor.execute(self.sql, self._parameters(values))
            return await cursor.fetchall() if cursor.description else []

    def _parameters(self, values: dict) -> tuple | dict:
        values = {**self.defaults, **values}
        return tuple(values[k] for k in self.order) if self.order is not None else values


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalars(select(Team).where(Team.name == name)).first()
