"""What every request handler of the leaderboard shares: database work in worker threads, the
cached snapshot of teams and exercises, and the password gate.

Each request does all of its database work in **one** call to a worker thread, in a session
opened and closed inside that call. No connection is ever held while a request waits for
something else (a thread, the client, the response being written). With a request-scoped
session held across the threadpool's steps, 20 concurrent clients used to stall the server:
threads waited for pooled connections held by requests that were waiting for threads.

The one exception is the reveal, the call every team's script sends in a loop: its statements
take less than the hop to a worker thread and back. On a SQLite file it runs on the event
loop's own thread, on connections that never wait for a lock; a reveal that would wait
(another connection is writing, the cached snapshot is stale) takes a worker thread like any
other request (on 2 cores, about 2,000 against 1,000 reveals a second). On PostgreSQL through
psycopg it runs on the loop with psycopg's asyncio connections (:mod:`~underspec.server.pgasync`),
which wait for the database without blocking the loop (1,500 to 1,850 against 750 a second;
``bench/results/server.md``).

The argon2 check runs in a single worker of its own, outside the handler threads, behind the
limits of :class:`~underspec.server.accounts.Verifier`: clients that guess passwords or send
random names wait among themselves, never in front of teams whose password is known.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from underspec.server import service
from underspec.server.accounts import Credentials, CredentialsError, Signer, Verifier
from underspec.server.db import Team, make_engine

T = TypeVar("T")


class WouldWaitError(Exception):
    """A reveal on the event loop's thread would have to wait (a lock, a snapshot to load)."""


class Board:
    """The shared state of one app: its database, password checks, cookie signer and cache.

    Parameters
    ----------
    factory : sessionmaker
        Sessions on the leaderboard database.
    verifier : Verifier
        Password checks and their limits.
    signer : Signer
        Cookie signatures and CSRF tokens.
    """

    def __init__(self, factory: sessionmaker[Session], verifier: Verifier, signer: Signer):
        self.factory, self.verifier, self.signer = factory, verifier, signer
        self.engine = factory.kw["bind"]
        # Reads and single-statement writes (a reveal's insert) need no transaction around
        # them: in autocommit, PostgreSQL is spared a BEGIN and a ROLLBACK round trip each.
        self.autocommit = sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                       expire_on_commit=False)
        self.cache = service.BoardCache()
        self.known = service.KnownReveals()
        self.statements = service.RevealStatements(self.engine.dialect)
        dbapi = self.engine.dialect.loaded_dbapi
        self._driver_errors = (dbapi.OperationalError, dbapi.InterfaceError)
        url = self.engine.url
        file_sqlite = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        self.inline = make_engine(url.render_as_string(hide_password=False), lock_wait=0.0) if file_sqlite else None
        self.native = None
        if self.engine.dialect.driver == "psycopg":
            from underspec.server.pgasync import AsyncConnections

            self.native = AsyncConnections(self.engine)
        self._argon2 = anyio.CapacityLimiter(1)
        self._pending: dict[tuple[str, bytes], asyncio.Future[bool]] = {}

    def in_session(self, work: Callable[[Session, service.Snapshot], T], atomic: bool = False) -> T:
        """``work(session, snapshot)`` in a session that is closed when it returns (call it in a
        worker thread). ``atomic`` work, which writes several statements that must hold
        together (a submission and the revision it raises), runs in a transaction; other work
        in autocommit."""

        def attempt() -> T:
            with (self.factory if atomic else self.autocommit)() as session:
                try:  # at the driver's speed: every request reads it
                    revision = service.run_to_end(self.reveals_of(session).revision())
                except self._driver_errors:
                    session.connection().invalidate()
                    raise
                return work(session, self.cache.current(revision) or self.cache.get(session))

        return self._once_more_if_dropped(attempt)

    def with_reveals(self, work: Callable[[service.RevealTable, service.Snapshot], Coroutine[Any, Any, T]],
                     inline: bool = False) -> T:
        """``await work(table, snapshot)`` on a raw pooled connection in autocommit: the reveal's
        hot path, with no SQLAlchemy session (call it in a worker thread; ``work``'s coroutine
        never suspends on this blocking connection).

        ``inline``: on :attr:`inline`'s connections, which never wait for a lock, from the event
        loop's thread; raises :class:`WouldWaitError` (before ``work`` has written anything) where
        it would wait or meets any driver error: the caller then runs it in a thread.
        """

        def attempt() -> T:
            engine = self.inline if inline else self.engine
            raw = engine.raw_connection()
            dialect = engine.dialect
            try:
                dialect.set_isolation_level(raw.dbapi_connection, "AUTOCOMMIT")
                table = service.RevealTable(raw.dbapi_connection, self.statements, self.known)
                snapshot = self.cache.current(service.run_to_end(table.revision()))
                if snapshot is None:
                    if inline:
                        raise WouldWaitError("the snapshot is stale")
                    snapshot = self.in_session(lambda _session, snap: snap)
                return service.run_to_end(work(table, snapshot))
            except self._driver_errors:
                raw.invalidate()  # never back into the pool
                raise
            finally:
                if raw.is_valid:  # back into the pool as it came
                    dialect.reset_isolation_level(raw.dbapi_connection)
                raw.close()

        if inline:
            try:  # a write of this reveal is its last statement: an error means nothing was written
                return attempt()
            except self._driver_errors as exc:
                raise WouldWaitError(str(exc)) from exc
        return self._once_more_if_dropped(attempt)

    async def with_native_reveals(self, work: Callable[[service.RevealTable, service.Snapshot],
                                                       Coroutine[Any, Any, T]]) -> T:
        """``await work(table, snapshot)`` on one of :attr:`native`'s asyncio connections, on the
        event loop; once more on a fresh connection if the database dropped the one it used."""

        async def attempt() -> T:
            async with self.native.connection() as conn:
                table = service.RevealTable(conn, self.statements, self.known, asynchronous=True)
                snapshot = self.cache.current(await table.revision())
                if snapshot is None:
                    snapshot = await self.run(lambda _session, snap: snap)
                return await work(table, snapshot)

        try:
            return await attempt()
        except self._driver_errors:  # the connection was closed, not pooled again
            self.native.forget_idle()
        return await attempt()

    async def dispose(self) -> None:
        """Close every pooled connection (on shutdown)."""
        self.engine.dispose()
        if self.inline is not None:
            self.inline.dispose()
        if self.native is not None:
            await self.native.close()

    async def run(self, work: Callable[[Session, service.Snapshot], T], atomic: bool = False) -> T:
        """:meth:`in_session` in a worker thread."""
        return await anyio.to_thread.run_sync(self.in_session, work, atomic)

    def _once_more_if_dropped(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, and once more if the database dropped the pooled connection it used
        (a restart, an idle timeout): that connection was invalidated, the next is fresh."""
        try:
            return attempt()
        except DBAPIError as exc:  # SQLAlchemy saw it: it has invalidated the pool itself
            if not exc.connection_invalidated:
                raise
        except self._driver_errors:  # the driver's own error: the other pooled ones are dead too
            self.engine.dispose()
        return attempt()

    def reveals_of(self, session: Session) -> service.RevealTable:
        """The reveal table on an autocommit session's own connection (for the web pages)."""
        return service.RevealTable(session.connection().connection.dbapi_connection, self.statements)

    async def as_team(self, creds: Credentials, work: Callable[[Session, service.Snapshot, Team], T],
                      *, may_play: bool = True, atomic: bool = False, reveals: bool = False) -> T:
        """``work(db, snapshot, team)`` for the team these credentials name; ``db`` is a
        session (in a transaction when ``atomic``), or a :class:`~service.RevealTable` when
        ``reveals`` (``work`` then returns a coroutine: :func:`service.reveal`).

        A password this process already checked passes at once; any other runs the argon2
        check first (:meth:`check_password`), then the work. ``may_play`` also requires the
        team to be approved and enabled (403 otherwise).
        """

        def gated(db, snapshot: service.Snapshot) -> T:
            team = service.check_password(snapshot, self.verifier, creds)
            return work(db, snapshot, service.check_may_play(team) if may_play else team)

        async def run() -> T:
            if reveals and self.native is not None:
                return await self.with_native_reveals(gated)
            if reveals and self.inline is not None:
                try:
                    return self.with_reveals(gated, inline=True)
                except WouldWaitError:
                    pass
            if reveals:
                return await anyio.to_thread.run_sync(self.with_reveals, gated)
            return await self.run(gated, atomic)

        try:
            return await run()
        except service.PasswordCheckNeeded as need:
            await self.check_password(creds, need.stored_hash)
        try:
            return await run()
        except service.PasswordCheckNeeded as exc:  # the password changed in between
            raise service.RefusedError(401, "bad username or password") from exc

    async def check_password(self, creds: Credentials, stored_hash: str | None) -> None:
        """The argon2 check, within the limits: 429 while this client is throttled on this name
        or out of checks, 503 when too many checks wait, 401 when the password is wrong.

        Concurrent requests with the same name and password (a team's script starting several
        reveals at once) share one check.
        """
        key = (creds.name, self.verifier.fingerprint(creds, stored_hash))
        pending = self._pending.get(key)
        if pending is not None:
            ok = await asyncio.shield(pending)
        else:
            self._limits(creds)
            pending = self._pending[key] = asyncio.get_running_loop().create_future()
            self.verifier.waiting += 1  # on the event loop: no lock needed
            try:
                ok = await anyio.to_thread.run_sync(self.verifier.check, creds, stored_hash, limiter=self._argon2)
                pending.set_result(ok)
            except BaseException:
                pending.cancel()
                raise
            finally:
                self.verifier.waiting -= 1
                del self._pending[key]
        if not ok:
            raise service.RefusedError(401, "bad username or password")

    def _limits(self, creds: Credentials) -> None:
        verifier = self.verifier
        wait = verifier.wait_seconds(creds)
        if wait > 0:
            raise service.RefusedError(429, f"too many failed logins for this team from your address; "
                                            f"retry in {math.ceil(wait)} s", retry_after=wait)
        self._take_check(creds.client)
        if verifier.waiting >= verifier.max_waiting:
            raise service.RefusedError(503, "too many password checks waiting; retry in a second",
                                       retry_after=1)

    def _take_check(self, client: str) -> None:
        wait = self.verifier.take_check(client)
        if wait > 0:
            raise service.RefusedError(429, f"too many password checks from your address; retry in "
                                            f"{math.ceil(wait)} s", retry_after=wait)

    async def register(self, client: str, name: str, password: str) -> Team:
        """:func:`service.add_team` from a client: its argon2 hash counts against the client's
        checks and runs in the argon2 worker."""
        self._take_check(client)
        return await anyio.to_thread.run_sync(
            self.in_session, lambda session, _snapshot: service.add_team(session, name, password), True,
            limiter=self._argon2)


def client_address(request: Request) -> str:
    """The address a request came from (as uvicorn reports it), the key of password limits."""
    return request.client.host if request.client else ""


def credentials(username: str, password: str, client: str) -> Credentials:
    """:meth:`Credentials.parse`, its refusals as 422."""
    try:
        return Credentials.parse(username, password, client)
    except CredentialsError as exc:
        raise service.RefusedError(422, str(exc)) from exc
