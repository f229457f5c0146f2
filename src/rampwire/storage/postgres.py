"""The PostgreSQL back-end: an asyncpg pool; row locks and ``SKIP LOCKED`` do the hard work.

The driver's errors are translated here, once (``_translated``): a server that cannot be
reached, refuses connections, shuts down or drops a connection is :class:`DatabaseUnavailable`
(the API answers 503, the worker waits and tries again); anything else is :class:`StorageError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..errors import DatabaseUnavailable, DuplicateRow, StorageError
from .database import Dialect, Listening, Row, redact

log = logging.getLogger("rampwire.storage")

# A table this big (in 8 KiB pages) without statistics is analyzed: see :mod:`.statistics`.
UNANALYZED_PAGES = 16
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10  # connections per process
COMMAND_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0  # a new connection that takes longer: the server is unavailable
LISTEN_PING_S = 5.0  # an idle LISTEN connection is checked this often (a silent cut)
LISTEN_RETRY_MIN_S = 0.2  # LISTEN re-connects: first wait, doubled up to the maximum
LISTEN_RETRY_MAX_S = 5.0

# The server cannot be reached, refuses, shuts down or dropped the connection: not the
# statement's fault, and the same statement may succeed once it is back.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
_LISTEN_FAILURES: tuple[type[BaseException], ...] = (*_UNAVAILABLE, asyncpg.PostgresError)


_TRANSLATED = _LISTEN_FAILURES  # the driver's errors


def _translated(exc: BaseException) -> StorageError:
    """A driver error (one of :data:`_TRANSLATED`) as rampwire's, for ``raise ... from exc``."""
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable(f"PostgreSQL unavailable: {_describe(exc)}")
    if isinstance(exc, asyncpg.UniqueViolationError):
        return DuplicateRow(
            f"PostgreSQL: {exc}", table=exc.table_name, constraint=exc.constraint_name
        )
    return StorageError(f"PostgreSQL: {exc}")


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__  # TimeoutError() says nothing by itself


class PostgresConnection:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        self._conn = conn

    # try/except rather than a context manager: it wraps every statement, and a ``try``
    # costs nothing until something is raised
    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status = await self._conn.execute(sql, *args)
        except _TRANSLATED as exc:
            raise _translated(exc) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, rows)
        except _TRANSLATED as exc:
            raise _translated(exc) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self._conn.fetch(sql, *args))
        except _TRANSLATED as exc:
            raise _translated(exc) from exc

    async def fetchmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Row]:
        try:
            return list(await self._conn.fetchmany(sql, rows))
        except _TRANSLATED as exc:
            raise _translated(exc) from exc

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            return await self._conn.fetchrow(sql, *args)
        except _TRANSLATED as exc:
            raise _translated(exc) from exc

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._conn.fetchval(sql, *args)
        except _TRANSLATED as exc:
            raise _translated(exc) from exc

    async def executescript(self, script: str) -> None:
        await self.execute(script)


async def _no_session_state(conn: asyncpg.Connection[Any]) -> None:
    """The pool's reset on release. asyncpg's default runs ``SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`` on every release, one more round trip per transaction.
    rampwire leaves no session state on pooled connections (LISTEN has its own connection,
    advisory locks are transaction-scoped, no ``SET``, no cursors), and asyncpg still rolls back
    a transaction left open and drops listeners before calling this."""


class PostgresDatabase:
    dialect: Dialect = "postgresql"
    for_update = "FOR UPDATE"

    def __init__(self, url: str, *, max_size: int = POOL_MAX_SIZE) -> None:
        self.url = url
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._waiting = 0  # callers waiting for a connection of the pool, for the metrics

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=POOL_MIN_SIZE,
                max_size=self._max_size,
                command_timeout=COMMAND_TIMEOUT_S,
                timeout=CONNECT_TIMEOUT_S,
                reset=_no_session_state,
            )
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(
                f"cannot connect to {redact(self.url)}: {_describe(exc)}"
            ) from exc
        except asyncpg.PostgresError as exc:
            raise StorageError(f"cannot connect to {redact(self.url)}: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def transaction(self) -> _Pooled:
        return _Pooled(self, begin=True)

    async def analyze_new_tables(self) -> list[str]:
        """``ANALYZE`` each table of the current schema that holds :data:`UNANALYZED_PAGES`
        pages or more and has never been analyzed or vacuumed (``reltuples`` -1 since
        PostgreSQL 14; ``relpages`` 0 after an ``ANALYZE`` of it empty, and before 14). A table
        emptied later keeps its ``relpages`` and is left to autovacuum."""
        analyzed: list[str] = []
        async with self.connection() as conn:
            tables = await conn.fetch(
                "SELECT c.relname, quote_ident(c.relname) AS quoted FROM pg_class c"
                " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
                " AND (c.reltuples < 0 OR (c.reltuples = 0 AND c.relpages = 0))"
                " AND pg_relation_size(c.oid) >= $1 * current_setting('block_size')::bigint"
                " ORDER BY c.relname",
                UNANALYZED_PAGES,
            )
            for row in tables:
                await conn.execute(f"ANALYZE {row['quoted']}")
                analyzed.append(row["relname"])
        return analyzed

    @asynccontextmanager
    async def listen(self, channel: str, callback: Callable[[], None]) -> AsyncIterator[Listening]:
        """A dedicated connection LISTENs on ``channel`` while the context is open, and is
        opened again, with backoff, whenever it is lost or stops answering."""
        state = Listening()
        task = asyncio.create_task(
            self._keep_listening(channel, callback, state), name="rampwire-listen"
        )
        try:
            yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_listening(
        self, channel: str, callback: Callable[[], None], state: Listening
    ) -> None:
        delay = LISTEN_RETRY_MIN_S
        was_listening = False
        while True:
            try:
                await self._listen_once(channel, callback, state, caught_up=was_listening)
                problem = "the connection was lost"
            except _LISTEN_FAILURES as exc:
                problem = _describe(exc)
            if state.connected or state.error is None:  # once per outage, not every retry
                log.warning("LISTEN %s: %s; connecting again", channel, problem)
            if state.connected:
                delay = LISTEN_RETRY_MIN_S
            was_listening = was_listening or state.connected
            state.connected, state.error = False, problem
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTEN_RETRY_MAX_S)

    async def _listen_once(
        self, channel: str, callback: Callable[[], None], state: Listening, *, caught_up: bool
    ) -> None:
        """Listen until the connection is lost or fails a ping."""
        conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(channel, lambda *_: callback())
            if caught_up:
                log.info("LISTEN %s: listening again", channel)
                callback()  # notifications sent while away are lost: look for work now
            state.connected, state.error = True, None
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=LISTEN_PING_S)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT_S)
        finally:
            conn.terminate()  # no goodbye to a server that may not answer

    def connection(self) -> _Pooled:
        return _Pooled(self, begin=False)

    def pool_usage(self) -> dict[str, float]:
        """The pool's connections in use and idle, and the callers waiting for one."""
        pool = self._pool
        if pool is None:
            return {}
        size, idle = pool.get_size(), pool.get_idle_size()
        return {"in_use": size - idle, "idle": idle, "waiting": self._waiting}


class _Pooled:
    """``async with`` a connection of the pool (:meth:`PostgresDatabase.connection`), or a
    transaction on one (``begin``, :meth:`PostgresDatabase.transaction`): ``BEGIN``, then
    ``COMMIT``, or ``ROLLBACK`` when the block raises; the driver's errors translated, the
    block's too. One class, not generator-based context managers around the pool's and
    asyncpg's ``Transaction``: it is entered for every transaction, and each of those layers
    costs Python calls on the way in and out (a generator also joins the loop's set of them)."""

    __slots__ = ("_begin", "_conn", "_db", "_pool")

    def __init__(self, db: PostgresDatabase, *, begin: bool) -> None:
        self._db = db
        self._begin = begin
        self._pool: asyncpg.Pool[Any] | None = None
        self._conn: PoolConnectionProxy[Any] | None = None

    async def __aenter__(self) -> PostgresConnection:
        db = self._db
        pool = db._pool
        if pool is None:
            raise StorageError("database is not open")
        db._waiting += 1  # callers waiting for a connection: asyncpg does not say
        try:
            conn = await pool.acquire()
        except _TRANSLATED as exc:
            raise _translated(exc) from exc
        finally:
            db._waiting -= 1
        if self._begin:
            try:
                await conn.execute("BEGIN;")
            except BaseException as exc:
                await _release(pool, conn, None, exc)
                raise
        self._pool, self._conn = pool, conn
        return PostgresConnection(conn)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        pool, conn = self._pool, self._conn
        if pool is None or conn is None:
            raise StorageError("not entered")
        self._pool = self._conn = None
        end = None if not self._begin else "COMMIT;" if kind is None else "ROLLBACK;"
        await _release(pool, conn, end, exc)


async def _release(
    pool: asyncpg.Pool[Any],
    conn: PoolConnectionProxy[Any],
    end: str | None,
    exc: BaseException | None,
) -> None:
    """Run ``end`` (``COMMIT``, ``ROLLBACK`` or nothing) and give ``conn`` back to ``pool``;
    then raise what either raised, else ``exc`` (the block's error) if the driver's,
    translated. The caller re-raises any other."""
    try:
        try:
            if end is not None:
                await conn.execute(end)
        finally:
            await pool.release(conn)
    except _TRANSLATED as error:
        raise _translated(error) from error
    if isinstance(exc, _TRANSLATED):
        raise _translated(exc) from exc
