"""psycopg's asyncio connections for the reveal's hot path on PostgreSQL.

A reveal is two or three short statements. Run in a worker thread, the hop to the thread and
back cost more than the statements (on 2 cores, about 750 reveals a second against 1,800 for a
bare route); on the event loop's own thread with psycopg's asyncio connections, the loop
serves other requests while the database answers (``bench/results/server.md``). The pool is
small and plain: connections in autocommit, created on first use on the running loop, a
connection that is broken or left inside a statement (a cancelled request) is closed instead
of reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Engine


class AsyncConnections:
    """At most ``size`` psycopg asyncio connections to ``engine``'s database, in autocommit.

    Parameters
    ----------
    engine : Engine
        A SQLAlchemy engine on the ``postgresql+psycopg`` dialect: its URL and connection
        arguments are used as they are.
    size : int
        The most connections open at once; a request beyond them waits for one. Four kept the
        loop busy: on 2 cores with the database on the same machine, 16 clients got 1,500 to
        1,850 reveals a second with p99 14 to 16 ms from 4 connections, and 1,260 to 1,440
        with p99 71 to 80 ms from 8 or 16 (more database processes competing for the cores).
    """

    def __init__(self, engine: Engine, size: int = 4):
        self._args, self._params = engine.dialect.create_connect_args(engine.url)
        self.size = size
        self._idle: list[psycopg.AsyncConnection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None  # made on the loop that first asks

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection for the length of the ``async with`` block, then back in the pool."""
        async with self._on_this_loop():
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = await psycopg.AsyncConnection.connect(*self._args, autocommit=True, **self._params)
            try:
                yield conn
            finally:
                if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
                    self._idle.append(conn)
                else:  # broken, or cancelled inside a statement: never reused
                    await self._close(conn)

    def forget_idle(self) -> None:
        """Drop the idle connections (the database dropped one: the others are likely dead)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()  # no round trip: the server may be gone

    async def close(self) -> None:
        """Close the idle connections (on shutdown)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._close(conn)

    def _on_this_loop(self) -> asyncio.Semaphore:
        """The slots of the running loop. Connections belong to the event loop that opened
        them: a new loop (a new test client on the same app) starts a new pool."""
        loop = asyncio.get_running_loop()
        if self._slots is None or loop is not self._loop:
            self.forget_idle()
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        return self._slots

    @staticmethod
    async def _close(conn: psycopg.AsyncConnection) -> None:
        with contextlib.suppress(psycopg.Error, OSError):
            await conn.close()
