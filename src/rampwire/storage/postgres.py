"""The PostgreSQL back-end: an asyncpg pool; row locks and ``SKIP LOCKED`` do the hard work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..errors import StorageError
from .database import Dialect, Row, redact

# A table this big (in 8 KiB pages) without statistics is analyzed: see :mod:`.statistics`.
UNANALYZED_PAGES = 16
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10  # connections per process
COMMAND_TIMEOUT_S = 30.0


class PostgresConnection:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status = await self._conn.execute(sql, *args)
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL: {exc}") from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, rows)
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL: {exc}") from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self._conn.fetch(sql, *args))
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL: {exc}") from exc

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            return await self._conn.fetchrow(sql, *args)
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL: {exc}") from exc

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._conn.fetchval(sql, *args)
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL: {exc}") from exc

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

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=POOL_MIN_SIZE,
                max_size=self._max_size,
                command_timeout=COMMAND_TIMEOUT_S,
                reset=_no_session_state,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot connect to {redact(self.url)}: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        if self._pool is None:
            raise StorageError("database is not open")
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresConnection(conn)

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
    async def listen(self, channel: str, callback: Callable[[], None]) -> AsyncIterator[None]:
        """A dedicated connection LISTENs on ``channel`` while the context is open."""
        try:
            conn = await asyncpg.connect(self.url)
            await conn.add_listener(channel, lambda *_: callback())
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot LISTEN on {redact(self.url)}: {exc}") from exc
        try:
            yield
        finally:
            await conn.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PostgresConnection]:
        if self._pool is None:
            raise StorageError("database is not open")
        async with self._pool.acquire() as conn:
            yield PostgresConnection(conn)
