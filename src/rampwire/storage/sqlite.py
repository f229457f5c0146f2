"""The SQLite back-end: one file in WAL mode, one writer, readers beside it.

SQLite allows one writer at a time, so write transactions queue on an :class:`asyncio.Lock` and
run ``BEGIN IMMEDIATE`` on a dedicated connection: that is the single-writer equivalent of row
locks, and it also holds off writers in other processes (the CLI) through SQLite's own lock,
waited on for ``BUSY_TIMEOUT_MS``. Reads use a second connection and see committed data (WAL).
Both run ``journal_mode = WAL``, ``synchronous = NORMAL`` and ``temp_store = MEMORY``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from ..errors import DatabaseUnavailable, DuplicateRow, StorageError
from .database import Dialect, Listening, Row, statements

BUSY_TIMEOUT_MS = 10_000  # how long to wait for another process's write lock
_PLACEHOLDER = re.compile(r"\$(\d+)")


CONVERTED_STATEMENTS = 1_024  # statement texts whose placeholders are kept converted


@functools.lru_cache(maxsize=CONVERTED_STATEMENTS)
def _convert(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


# Errors that say the database cannot be used now, rather than that the statement is wrong.
_UNAVAILABLE_SIGNS = ("locked", "busy", "disk i/o", "unable to open", "disk is full")
_UNIQUE = "UNIQUE constraint failed: "


def _translated(exc: sqlite3.Error, what: str = "") -> StorageError:
    """The driver's error as rampwire's, translated once here."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and any(
        sign in text.lower() for sign in _UNAVAILABLE_SIGNS
    ):
        return DatabaseUnavailable(f"SQLite unavailable: {what}{text}")
    if isinstance(exc, sqlite3.IntegrityError) and text.startswith(_UNIQUE):
        # "UNIQUE constraint failed: table.column, ...": sqlite3 names the table only there
        table = text.removeprefix(_UNIQUE).split(".", 1)[0]
        return DuplicateRow(f"SQLite: {what}{text}", table=table)
    return StorageError(f"SQLite: {what}{text}")


def path_from_url(url: str) -> str:
    """``sqlite:///var/x.db`` → ``var/x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    rest = url.split(":", 1)[1]
    if rest.startswith("///"):
        return rest[3:]
    if rest in ("", "//", "///:memory:", ":memory:"):
        raise StorageError("an in-memory SQLite database cannot be shared; give a file path")
    raise StorageError(f"write SQLite URLs as sqlite:///rel/path or sqlite:////abs/path: {url}")


class SqliteConnection:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        before = self._conn.total_changes
        try:
            cursor = await self._conn.execute(_convert(sql), args)
        except sqlite3.Error as exc:
            raise _translated(exc) from exc
        # sqlite3 counts rows only for statements that begin with INSERT, UPDATE or DELETE,
        # not for ``WITH ... INSERT``; the connection's running total counts every one.
        return cursor.rowcount if cursor.rowcount >= 0 else self._conn.total_changes - before

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(_convert(sql), rows)
        except sqlite3.Error as exc:
            raise _translated(exc) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self._conn.execute_fetchall(_convert(sql), args))
        except sqlite3.Error as exc:
            raise _translated(exc) from exc

    async def fetchmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Row]:
        found: list[Row] = []
        for args in rows:
            found.extend(await self.fetch(sql, *args))
        return found

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def executescript(self, script: str) -> None:
        """Run a DDL script inside the current transaction (sqlite3's own executescript
        would commit first)."""
        for statement in statements(script):
            await self.execute(statement)


class SqliteDatabase:
    dialect: Dialect = "sqlite"
    for_update = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        # A statement inside a transaction keeps the pages it changes in a statement journal,
        # which spills past 64 KiB into a new temporary file, created and unlinked each time;
        # in memory it is only the pages the statement touches, and it is never durable anyway.
        await conn.execute("PRAGMA temp_store = MEMORY")
        return conn

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            self._reader = await self._connect()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    def transaction(self) -> _Writing:
        return _Writing(self)

    async def analyze_new_tables(self) -> list[str]:
        """Nothing to do: SQLite plans a table without statistics as a large one, on its indexes."""
        return []

    @asynccontextmanager
    async def listen(self, channel: str, callback: Callable[[], None]) -> AsyncIterator[Listening]:
        # SQLite has no notifications: in-process wake-ups and polling do the work.
        yield Listening(connected=True)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[SqliteConnection]:
        if self._reader is None:
            raise StorageError("database is not open")
        yield SqliteConnection(self._reader)


class _Writing:
    """``async with`` a write transaction (:meth:`SqliteDatabase.transaction`): the write lock,
    ``BEGIN IMMEDIATE``, then commit, or roll back when the block raises. A class, not a
    generator-based context manager: it is entered for every write transaction."""

    __slots__ = ("_db", "_writer")

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._writer: aiosqlite.Connection | None = None

    async def __aenter__(self) -> SqliteConnection:
        db = self._db
        writer = db._writer
        if writer is None:
            raise StorageError("database is not open")
        await db._write_lock.acquire()
        try:
            conn = SqliteConnection(writer)
            await conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            db._write_lock.release()
            raise
        self._writer = writer
        return conn

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            raise StorageError("not entered")
        try:
            if kind is not None:
                await writer.rollback()
            else:
                try:
                    await writer.commit()
                except sqlite3.Error as error:
                    raise _translated(error, "commit failed: ") from error
        finally:
            self._db._write_lock.release()
