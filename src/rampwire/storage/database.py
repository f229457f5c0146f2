"""The storage interface every back-end implements, and :func:`open_database`.

Times are stored as integer microseconds since the epoch (UTC) on both back-ends, JSON as
text on SQLite and on PostgreSQL as ``json`` (kept as written: what the order and delivery paths
write on every call) or ``jsonb`` (settings), passed and returned as text either way, and event
payloads as text so they are sent byte for byte as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, Protocol

import orjson

from ..errors import StorageError
from .texts import TEXT_SEPARATOR, split_texts


class Row(Protocol):
    """A result row, read by column name (or position), or unpacked in column order."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


Dialect = Literal["sqlite", "postgresql"]


class Connection(Protocol):
    """A connection inside a transaction (or, for reads, in autocommit)."""

    dialect: Dialect

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Row]:
        """Run a query once per row of arguments, in that order, in one round trip where the
        back-end allows; the rows all of them return."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def executescript(self, script: str) -> None:
        """Run several statements, inside the current transaction."""


@dataclass(slots=True)
class Listening:
    """The state of a :meth:`Database.listen`: for readiness and logs."""

    connected: bool = False
    error: str | None = None  # why it is not connected, while it is not


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
    ) -> AbstractAsyncContextManager[Listening]:
        """Call ``callback`` on each notification on ``channel`` while the context is open
        (PostgreSQL LISTEN, re-opened after a lost connection, with one ``callback`` on
        return since notifications may have been missed); a no-op where the back-end has no
        notifications. The :class:`Listening` it yields says whether it is listening now."""

    @property
    def for_update(self) -> str:
        """``FOR UPDATE`` where row locks exist; empty on SQLite (its writer is single)."""

    async def analyze_new_tables(self) -> list[str]:
        """Give statistics to the tables that have grown without any (a new database, before
        autovacuum's first pass); returns their names. See :mod:`.statistics`."""


MAX_ROWS_PER_STATEMENT = 500  # on SQLite: rows times columns stays below its parameter limit
# On PostgreSQL, row sets this small are sent as a VALUES list of typed parameters, not as
# arrays: a VALUES list's row count is the same in a generic plan as in a custom one, so the
# server keeps one generic plan per statement instead of planning each execution anew (it
# cannot tell an array's length before it has the value), and the driver encodes no arrays.
PG_VALUES_MAX_ROWS = 1


@dataclass(frozen=True, slots=True, eq=False)
class Columns:
    """The shape of rows passed many at a time: column names with their PostgreSQL types.

    A statement over such rows reads them as the relation ``v``; see :func:`execute_rows`.
    ``row_type``: a PostgreSQL composite type whose fields are these columns, in this order
    (the row type of a view made for it, as in migration 0014): the rows then travel as one
    array of that type, not one array per column, which asyncpg encodes with a few checks per
    row instead of one or two per value.

    Compared and hashed by identity (each is a module's constant): it keys the statement texts
    cached by shape, and an identity hash is the interpreter's, a generated one a Python call."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    row_type: str | None = None
    listed: str = field(init=False, repr=False)  # the names, comma-separated
    texts: tuple[int, ...] = field(init=False, repr=False)  # the positions of ``text`` columns

    def __post_init__(self) -> None:
        object.__setattr__(self, "listed", ", ".join(self.names))
        texts = tuple(n for n, kind in enumerate(self.types) if kind == "text")
        object.__setattr__(self, "texts", texts)

    @classmethod
    def of(cls, spec: str, *, row_type: str | None = None) -> Columns:
        """``Columns.of("id text, version bigint, body json")``."""
        pairs = [column.split() for column in spec.split(",")]
        return cls(tuple(name for name, _ in pairs), tuple(kind for _, kind in pairs), row_type)


def rows_clause(dialect: Dialect, columns: Columns, count: int, first: int = 1) -> str:
    """``WITH v (a, b) AS (...)``: ``count`` rows as a relation, their parameters numbered from
    ``$first`` (:func:`row_arguments` lays them out). On SQLite, a ``VALUES`` list (preparing is
    in-process there). On PostgreSQL, up to :data:`PG_VALUES_MAX_ROWS` rows a typed ``VALUES``
    list too, one statement text per count; more, one array of rows (``columns.row_type``) or one
    array per column (a ``text`` column's values as one text, :func:`split_texts`), read by
    ``unnest``, so the statement is the same text, and prepared once, whatever the count."""
    return _rows_clause(dialect, columns, _shape_count(dialect, count), first)


def _shape_count(dialect: Dialect, count: int) -> int:
    """The rows a statement's text is written for: on PostgreSQL, 0 for more than
    :data:`PG_VALUES_MAX_ROWS` (or none): arrays, one text (and one cache entry) for any count."""
    if dialect == "postgresql" and not 0 < count <= PG_VALUES_MAX_ROWS:
        return 0
    return count


@lru_cache(maxsize=256)
def _rows_clause(dialect: Dialect, columns: Columns, count: int, first: int) -> str:
    if dialect == "postgresql" and count == 0:
        if columns.row_type is not None:
            arrays = f"${first}::{columns.row_type}[]"
        else:  # the texts' separator and null after the columns (:func:`row_arguments`)
            split = f"${first + len(columns.types)}, ${first + len(columns.types) + 1}"
            arrays = ", ".join(
                f"string_to_array(${n}, {split})" if kind == "text" else f"${n}::{kind}[]"
                for n, kind in enumerate(columns.types, start=first)
            )
        return f"WITH v ({columns.listed}) AS (SELECT * FROM unnest({arrays}))"
    width = len(columns.names)
    casts = [f"::{kind}" for kind in columns.types] if dialect == "postgresql" else [""] * width
    rows = (
        "(" + ", ".join(f"${row * width + first + n}{casts[n]}" for n in range(width)) + ")"
        for row in range(count)
    )
    return f"WITH v ({columns.listed}) AS (VALUES {', '.join(rows)})"


def row_arguments(dialect: Dialect, columns: Columns, rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The parameters of :func:`rows_clause` for ``rows``: their values row by row, or, where
    it takes arrays, one array of row tuples (``columns.row_type``) or one list per column,
    each ``text`` column's as one text, then their separator and null (:func:`split_texts`)."""
    if dialect == "postgresql" and _shape_count(dialect, len(rows)) == 0:
        if columns.row_type is not None:
            records = [row if type(row) is tuple else tuple(row) for row in rows]
            width = _width(len(records))
            if width == 1:
                return [records]
            return [[records[start : start + width] for start in range(0, len(records), width)]]
        values: list[Any] = [list(column) for column in zip(*rows, strict=True)]
        if not columns.texts:
            return values
        split = split_texts([values[n] for n in columns.texts])
        if split is None:  # a value not a string: the driver refuses it, as it did in an array
            return [*values, TEXT_SEPARATOR, None]
        texts, separator, null = split
        for n, text in zip(columns.texts, texts, strict=True):
            values[n] = text
        return [*values, separator, null]
    return [value for row in rows for value in row]


@lru_cache(maxsize=1024)
def _width(count: int) -> int:
    """The rows of each line when ``count`` rows of a row type go as a two-dimensional array
    (``unnest`` reads it in order, as it does a list): the largest divisor of ``count`` not
    above its square root, 1 for a list. asyncpg checks each line of such an array against
    abstract base classes, and each element of the first line only; of a list, each element:
    64 rows are 8 lines of 8, 3 x 8 + 3 x 8 checks, not 3 x 64."""
    for width in range(math.isqrt(count), 1, -1):
        if count % width == 0:
            return width
    return 1


def _statements(
    conn: Connection, columns: Columns, rows: Sequence[Sequence[Any]], sql: str
) -> Iterator[tuple[str, list[Any]]]:
    """``sql`` (which reads ``v``) with its arguments: one statement on PostgreSQL, one per
    :data:`MAX_ROWS_PER_STATEMENT` rows on SQLite."""
    if conn.dialect == "postgresql":
        yield (
            _statement(conn.dialect, columns, len(rows), sql),
            row_arguments(conn.dialect, columns, rows),
        )
        return
    for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        chunk = rows[start : start + MAX_ROWS_PER_STATEMENT]
        yield (
            _statement(conn.dialect, columns, len(chunk), sql),
            [value for row in chunk for value in row],
        )


def _statement(dialect: Dialect, columns: Columns, count: int, sql: str) -> str:
    """``sql`` after the :func:`rows_clause` of ``count`` rows: the same text object for the
    same shape, so the driver's statement cache finds it by its cached hash."""
    return _statement_of(dialect, columns, _shape_count(dialect, count), sql)


@lru_cache(maxsize=256)
def _statement_of(dialect: Dialect, columns: Columns, count: int, sql: str) -> str:
    return f"{_rows_clause(dialect, columns, count, 1)} {sql}"


async def execute_rows(
    conn: Connection, columns: Columns, rows: Sequence[Sequence[Any]], sql: str
) -> int:
    """Run ``sql``, which reads ``rows`` as the relation ``v``, in as few statements as the
    back-end allows (one round trip for any count on PostgreSQL); returns the rows changed.
    Nothing runs when there are no rows."""
    changed = 0
    if rows:
        for statement, args in _statements(conn, columns, rows, sql):
            changed += await conn.execute(statement, *args)
    return changed


async def fetch_rows(
    conn: Connection, columns: Columns, rows: Sequence[Sequence[Any]], sql: str
) -> list[Row]:
    """Like :func:`execute_rows`, for a query: the rows it returns."""
    found: list[Row] = []
    if rows:
        for statement, args in _statements(conn, columns, rows, sql):
            found.extend(await conn.fetch(statement, *args))
    return found


_NO_COLUMNS = Columns((), ())  # of an ``each``: its rows are sent as they are


@lru_cache(maxsize=256)
def _insert(table: str, columns: Columns, tail: str) -> str:
    # ``WHERE true`` keeps SQLite from reading ``ON CONFLICT`` as a join constraint.
    return f"INSERT INTO {table} ({columns.listed}) SELECT * FROM v WHERE true{tail}"


@dataclass(slots=True)  # not frozen: never changed, and made per write
class _Write:
    columns: Columns
    rows: Sequence[Sequence[Any]]
    sql: str  # reads the rows as ``v``; of an ``each``, takes one row's values as ``$1, $2, ...``
    kind: Literal["write", "read", "each"] = "write"  # :meth:`Writes.execute`, ``read``, ``each``


class Writes:
    """Row-set writes of one transaction, sent together: on PostgreSQL as one statement (each
    write a data-modifying ``WITH`` query over its own rows), on SQLite one after another.

    They must not depend on each other's effects: PostgreSQL runs them on one snapshot, in no
    set order, and none sees what another writes (constraints, foreign keys included, are
    checked once all are done). A write without rows is not sent."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect  # of the connection :meth:`run` will take
        self._writes: list[_Write] = []
        self._found: dict[int, list[tuple[Any, ...]]] = {}  # a read's rows, by its index

    def execute(self, columns: Columns, rows: Sequence[Sequence[Any]], sql: str) -> int:
        """Add ``sql``, which reads ``rows`` as the relation ``v`` (as for
        :func:`execute_rows`); returns its index in what :meth:`run` returns."""
        self._writes.append(_Write(columns, rows, sql))
        return len(self._writes) - 1

    def insert(
        self, table: str, columns: Columns, rows: Sequence[Sequence[Any]], tail: str = ""
    ) -> int:
        """Add an insert of ``rows`` into ``columns`` of ``table``; ``tail`` may be ``ON
        CONFLICT DO NOTHING`` (its count is then of the rows written). Returns its index."""
        self._writes.append(_Write(columns, rows, _insert(table, columns, tail)))
        return len(self._writes) - 1

    def read(self, columns: Columns, rows: Sequence[Sequence[Any]], sql: str) -> int:
        """Add ``sql``, a query that reads ``rows`` as ``v`` and writes nothing, so it costs no
        round trip of its own; once :meth:`run` has run, :meth:`found` holds its rows. On
        PostgreSQL it sees the database as the writes found it (one snapshot); on SQLite it
        runs in its place among them, so add it before a write it must not see. Returns its
        index (its count in what :meth:`run` returns is of its rows)."""
        self._writes.append(_Write(columns, rows, sql, "read"))
        return len(self._writes) - 1

    def found(self, index: int) -> list[tuple[Any, ...]]:
        """The rows of the read :meth:`read` added at ``index``, each a tuple in its columns'
        order (values as JSON gives them on PostgreSQL: text, numbers, booleans); none if it
        had no rows to read with."""
        return self._found.get(index, [])

    def each(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Add ``sql`` run once per row, the row's values as ``$1, $2, ...``, all in one round
        trip (``executemany``) after the row-set writes; its count in what :meth:`run` returns
        is of the rows sent. For a write whose plan must not depend on a table's size: a
        join with a row set, as the server may keep it for the connection's life, is planned
        once with the table as it was then (a hash join over a scan of the whole table when
        that was small), where ``WHERE id = $1`` is an index lookup however it is planned."""
        self._writes.append(_Write(_NO_COLUMNS, rows, sql, "each"))
        return len(self._writes) - 1

    async def run(self, conn: Connection) -> list[int]:
        """Send every write; the rows each changed, in the order they were added."""
        assert conn.dialect == self.dialect
        changed = [0] * len(self._writes)
        live = [(i, w) for i, w in enumerate(self._writes) if w.rows and w.kind != "each"]
        if self.dialect == "postgresql" and len(live) > 1:
            await self._together(conn, live, changed)
        else:
            for index, w in live:
                if w.kind == "read":
                    found = await fetch_rows(conn, w.columns, w.rows, w.sql)
                    self._found[index] = [tuple(row) for row in found]
                    changed[index] = len(found)
                else:
                    changed[index] = await execute_rows(conn, w.columns, w.rows, w.sql)
        for index, w in enumerate(self._writes):
            if w.kind == "each" and w.rows:
                await conn.executemany(w.sql, w.rows)
                changed[index] = len(w.rows)
        return changed

    async def _together(
        self, conn: Connection, live: list[tuple[int, _Write]], changed: list[int]
    ) -> list[int]:
        """PostgreSQL: ``WITH w0 AS (INSERT ... RETURNING 1), w1 AS (...) SELECT count(*)
        of each``, and of a read its rows as JSON; a data-modifying ``WITH`` query runs to its
        end whether read or not. Its text depends only on the writes' shapes
        (:func:`_together_text`)."""
        shape: list[tuple[Columns, int, int, str, bool]] = []
        args: list[Any] = []
        for _, w in live:
            count = _shape_count("postgresql", len(w.rows))
            shape.append((w.columns, count, len(args) + 1, w.sql, w.kind == "read"))
            args.extend(row_arguments(conn.dialect, w.columns, w.rows))
        row = await conn.fetchrow(_together_text(tuple(shape)), *args)
        assert row is not None
        for n, (index, w) in enumerate(live):
            if w.kind == "read":
                found = [tuple(each.values()) for each in orjson.loads(row[n] or "[]")]
                self._found[index] = found
                changed[index] = len(found)
            else:
                changed[index] = row[n]
        return changed


# per write: columns, rows (0: many), its first parameter's number, sql, whether a read
_Shape = tuple[tuple[Columns, int, int, str, bool], ...]


@lru_cache(maxsize=256)
def _together_text(shape: _Shape) -> str:
    """The statement of :meth:`Writes._together` for writes of this shape."""
    queries: list[str] = []
    selected: list[str] = []
    for n, (columns, count, first, sql, reads) in enumerate(shape):
        clause = _rows_clause("postgresql", columns, count, first)
        returning = "" if reads or " RETURNING " in sql else " RETURNING 1"
        queries.append(f"w{n} AS ({clause} {sql}{returning})")
        selected.append(
            f"(SELECT json_agg(w{n}) FROM w{n})" if reads else f"(SELECT count(*) FROM w{n})"
        )
    return f"WITH {', '.join(queries)} SELECT {', '.join(selected)}"


class Where:
    """A listing's filters, condition by condition; each value becomes the next ``$n``."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self._conditions: list[str] = []

    def arg(self, value: Any) -> str:
        """The placeholder of ``value``, for a condition written by hand."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        self._conditions.append(condition)

    def equals(self, column: str, value: Any) -> None:
        """``column = value``; no condition when ``value`` is None (not filtered on)."""
        if value is not None:
            self.add(f"{column} = {self.arg(value)}")

    def one_of(self, column: str, values: Sequence[Any]) -> None:
        """``column IN (values)``; no condition when ``values`` is empty (not filtered on)."""
        if values:
            self.add(f"{column} IN ({', '.join(self.arg(value) for value in values)})")

    def newest_first(self, select: str, *, before: str | None, limit: int) -> str:
        """``select`` (``SELECT ... FROM t``) with these filters, one page newest id first;
        ``before`` is the last id of the previous page. Run it with :attr:`args`."""
        if before is not None:
            self.add(f"id < {self.arg(before)}")
        clause = f" WHERE {' AND '.join(self._conditions)}" if self._conditions else ""
        return f"{select}{clause} ORDER BY id DESC LIMIT {self.arg(limit)}"


def open_database(url: str) -> Database:
    """A database for ``url`` (``sqlite:///path`` or ``postgresql://...``), not yet opened."""
    if url.startswith("sqlite:"):
        from .sqlite import SqliteDatabase

        return SqliteDatabase(url)
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise StorageError(f"unsupported database URL {redact(url)!r}: use sqlite:/// or postgresql://")


def statements(script: str) -> list[str]:
    """A DDL script's statements, separated by ``;`` at the end of a line."""
    return [part for part in re.split(r";\s*$", script, flags=re.MULTILINE) if part.strip()]


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
    # positional: timedelta parses keyword arguments at twice the cost, and every stored time
    # read goes through here (six for each endpoint a worker reads)
    return _EPOCH + timedelta(0, 0, value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
