"""The storage interface every back-end implements, and :func:`open_database`.

Times are stored as integer microseconds since the epoch (UTC) on both back-ends, JSON as
text on SQLite and ``jsonb`` on PostgreSQL (passed and returned as text either way), and event
payloads as text so they are sent byte for byte as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, Protocol

from ..errors import StorageError


class Row(Protocol):
    """A result row, read by column name (or position)."""

    def __getitem__(self, key: str | int, /) -> Any: ...


Dialect = Literal["sqlite", "postgresql"]


class Connection(Protocol):
    """A connection inside a transaction (or, for reads, in autocommit)."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def executescript(self, script: str) -> None:
        """Run several statements, inside the current transaction."""


class Database(Protocol):
    dialect: Dialect
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: serialised on SQLite, ``READ COMMITTED`` on PostgreSQL."""

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads, outside any write transaction."""

    def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> AbstractAsyncContextManager[None]:
        """Call ``callback`` on each notification on ``channel`` while the context is open
        (PostgreSQL LISTEN); a no-op where the back-end has no notifications."""

    @property
    def for_update(self) -> str:
        """``FOR UPDATE`` where row locks exist; empty on SQLite (its writer is single)."""


MAX_ROWS_PER_INSERT = 500  # rows times columns stays far below both back-ends' parameter limits
_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=512)
def rows_sql(head: str, row: str, count: int, tail: str = "") -> str:
    """``head`` (``INSERT INTO t (a, b) VALUES``), then ``count`` copies of the ``row`` template
    (``($1, $2)``) whose placeholders are shifted past the previous copy's, then ``tail``:
    several rows in one statement, one round trip."""
    width = max(int(n) for n in _PLACEHOLDER.findall(row))

    def copy(index: int) -> str:
        return _PLACEHOLDER.sub(lambda m: f"${int(m[1]) + index * width}", row)

    copies = (copy(index) for index in range(count))
    return f"{head} {', '.join(copies)}{tail}"


async def insert_rows(
    conn: Connection, head: str, row: str, rows: Sequence[Sequence[Any]], *, tail: str = ""
) -> int:
    """Insert ``rows`` with :func:`rows_sql`, in one statement per
    :data:`MAX_ROWS_PER_INSERT` rows (``executemany`` runs the statement once per row);
    returns how many were written (fewer with ``ON CONFLICT DO NOTHING``)."""
    written = 0
    for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
        chunk = rows[start : start + MAX_ROWS_PER_INSERT]
        args = [value for values in chunk for value in values]
        written += await conn.execute(rows_sql(head, row, len(chunk), tail), *args)
    return written


def open_database(url: str) -> Database:
    """A database for ``url`` (``sqlite:///path`` or ``postgresql://...``), not yet opened."""
    if url.startswith("sqlite:"):
        from .sqlite import SqliteDatabase

        return SqliteDatabase(url)
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise StorageError(f"unsupported database URL {redact(url)!r}: use sqlite:/// or postgresql://")


def redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def to_us(value: datetime) -> int:
    """Microseconds since the epoch, for storage."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
