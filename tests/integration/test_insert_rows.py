"""Many rows in one statement: typed arrays on PostgreSQL (one row: a typed VALUES row), VALUES
lists chunked on SQLite; and several such writes sent together (:class:`Writes`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rampwire.errors import StorageError
from rampwire.repository import inbound_rows, order_rows, outbox
from rampwire.repository.orders import _CLAIM
from rampwire.storage import Connection, Database
from rampwire.storage.database import (
    MAX_ROWS_PER_STATEMENT,
    PG_VALUES_MAX_ROWS,
    Columns,
    Writes,
    execute_rows,
    fetch_rows,
    row_arguments,
    rows_clause,
)

COLUMNS_SPEC = "id text, n bigint, s text, j jsonb"
COLUMNS = Columns.of(COLUMNS_SPEC)
TABLE = "CREATE TABLE rows_test (id TEXT PRIMARY KEY, n BIGINT, s TEXT, j {json})"


def test_postgresql_takes_one_array_per_column_whatever_the_count() -> None:
    """Text columns as one text each, split by the server (``split_texts``), then the
    separator and the text that stands for NULL (None where no value is NULL)."""
    many = rows_clause("postgresql", COLUMNS, PG_VALUES_MAX_ROWS + 1)
    assert many == rows_clause("postgresql", COLUMNS, 500)
    assert many == (
        "WITH v (id, n, s, j) AS (SELECT * FROM unnest(string_to_array($1, $5, $6),"
        " $2::bigint[], string_to_array($3, $5, $6), $4::jsonb[]))"
    )
    assert row_arguments("postgresql", COLUMNS, [("a", 1, "x", "{}"), ("b", 2, None, "[]")]) == [
        "a\x1fb",
        [1, 2],
        "x\x1f\x1e",
        ["{}", "[]"],
        "\x1f",
        "\x1e",
    ]
    assert row_arguments("postgresql", COLUMNS, [("a", 1, "x", "{}"), ("b", 2, "", "[]")]) == [
        "a\x1fb",
        [1, 2],
        "x\x1f",
        ["{}", "[]"],
        "\x1f",
        None,
    ]


def test_postgresql_takes_one_row_as_typed_values() -> None:
    """A generic plan knows a VALUES row's count, not an array's: PostgreSQL keeps one plan."""
    assert rows_clause("postgresql", COLUMNS, 1, 3) == (
        "WITH v (id, n, s, j) AS (VALUES ($3::text, $4::bigint, $5::text, $6::jsonb))"
    )
    assert row_arguments("postgresql", COLUMNS, [("a", 1, None, "{}")]) == ["a", 1, None, "{}"]


def test_sqlite_numbers_each_rows_placeholders_after_the_last() -> None:
    assert rows_clause("sqlite", COLUMNS, 2) == (
        "WITH v (id, n, s, j) AS (VALUES ($1, $2, $3, $4), ($5, $6, $7, $8))"
    )


def test_placeholders_can_start_after_other_parameters() -> None:
    assert rows_clause("postgresql", Columns.of("id text, n bigint"), 0, 5) == (
        "WITH v (id, n) AS (SELECT * FROM unnest(string_to_array($5, $7, $8), $6::bigint[]))"
    )
    assert (
        rows_clause("sqlite", Columns.of("id text"), 2, 3) == "WITH v (id) AS (VALUES ($3), ($4))"
    )


def test_row_typed_columns_take_one_array_of_rows() -> None:
    columns = Columns.of("id text, n bigint", row_type="rows_test")
    assert rows_clause("postgresql", columns, 0, 3) == (
        "WITH v (id, n) AS (SELECT * FROM unnest($3::rows_test[]))"
    )
    assert rows_clause("sqlite", columns, 1) == "WITH v (id, n) AS (VALUES ($1, $2))"
    rows = [("a", 1), ["b", 2]]
    assert row_arguments("postgresql", columns, rows) == [[("a", 1), ("b", 2)]]
    # one row: a typed VALUES row, as for any columns (a generic plan knows its count)
    assert rows_clause("postgresql", columns, 1) == (
        "WITH v (id, n) AS (VALUES ($1::text, $2::bigint))"
    )
    assert row_arguments("postgresql", columns, [("a", 1)]) == ["a", 1]


ROW_TYPED = [
    order_rows.ORDER,
    order_rows.ENTRY,
    inbound_rows.INBOUND,
    outbox._EVENT,
    outbox._NEW_DELIVERY,
]


@pytest.mark.parametrize("columns", ROW_TYPED, ids=lambda c: c.row_type)
async def test_row_typed_columns_are_their_row_types_fields_in_order(
    db: Database, columns: Columns
) -> None:
    """Each row type (a view's, migration 0014; the same in a fresh and a migrated schema:
    ``test_migrate``) has these columns' names and types, in this order."""
    if db.dialect != "postgresql":
        pytest.skip("row types are PostgreSQL's")
    async with db.connection() as conn:
        found = await conn.fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS kind FROM pg_attribute a"
            " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped"
            " ORDER BY a.attnum",
            columns.row_type,
        )
    assert [(r["attname"], r["kind"]) for r in found] == [
        (name, kind) for name, kind in zip(columns.names, columns.types, strict=True)
    ]


async def test_the_idempotency_keys_row_set_has_the_tables_column_types(db: Database) -> None:
    """Its rows travel as typed arrays, not a row type: each cast is its column's type (a
    ``jsonb`` cast into a ``json`` column would parse the value twice)."""
    if db.dialect != "postgresql":
        pytest.skip("column types are PostgreSQL's")
    async with db.connection() as conn:
        found = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'idempotency_keys' ORDER BY ordinal_position"
        )
    assert [tuple(r) for r in found] == list(zip(_CLAIM.names, _CLAIM.types, strict=True))


async def test_row_typed_rows_are_written_and_read_like_column_arrays(db: Database) -> None:
    """Rows as tuples or lists, with NULLs and JSON, beside a write of per-column arrays."""
    await _table(db)
    typed = Columns.of(COLUMNS_SPEC, row_type="rows_test")
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        first = writes.insert(
            "rows_test", typed, [("a", 1, None, '{"k": [1]}'), ["b", None, "y", "{}"]]
        )
        second = writes.insert("rows_test", COLUMNS, [("c", 3, "z", "[]")])
        changed = await writes.run(conn)
        alone = await execute_rows(
            conn, typed, [("d", 4, "w", "null")], "INSERT INTO rows_test SELECT * FROM v"
        )
    async with db.connection() as conn:
        found = await conn.fetch("SELECT id, n, s, j FROM rows_test ORDER BY id")
    assert (changed[first], changed[second], alone) == (2, 1, 1)
    assert [(r["id"], r["n"], r["s"]) for r in found] == [
        ("a", 1, None),
        ("b", None, "y"),
        ("c", 3, "z"),
        ("d", 4, "w"),
    ]
    assert [json.loads(r["j"]) for r in found] == [{"k": [1]}, {}, [], None]


@pytest.mark.parametrize(("count", "width"), [(2, 1), (7, 1), (12, 3), (42, 6), (64, 8)])
async def test_row_typed_rows_in_lines_are_written_in_order(
    db: Database, count: int, width: int
) -> None:
    """Many rows of a row type go as a two-dimensional array (lines of the largest divisor of
    their count not above its square root; a prime count as a list): ``v`` holds each, in
    order, as it does a list's."""
    await _table(db)
    typed = Columns.of(COLUMNS_SPEC, row_type="rows_test")
    rows = [(f"r{n:03}", n if n % 5 else None, f"s{n}", f'{{"n": {n}}}') for n in range(count)]
    lines = [rows[i : i + width] for i in range(0, count, width)] if width > 1 else rows
    assert row_arguments("postgresql", typed, rows) == [lines]
    async with db.transaction() as conn:
        found = await fetch_rows(
            conn, typed, rows, "SELECT id, n, s, j, row_number() OVER () AS at FROM v"
        )
        assert await insert_rows(conn, "rows_test", typed, rows) == count
    assert [(r["id"], r["n"], r["s"]) for r in found] == [row[:3] for row in rows]
    assert [r["at"] for r in found] == list(range(1, count + 1))
    async with db.connection() as conn:
        stored = await conn.fetch("SELECT id, n, s, j FROM rows_test ORDER BY id")
    assert [(r["id"], r["n"], r["s"], json.loads(r["j"])) for r in stored] == [
        (*row[:3], json.loads(row[3])) for row in rows
    ]


async def insert_rows(
    conn: Connection, table: str, columns: Columns, rows: list[Any], tail: str = ""
) -> int:
    """One insert through :class:`Writes` (alone, it runs as :func:`execute_rows`)."""
    writes = Writes(conn.dialect)
    inserted = writes.insert(table, columns, rows, tail)
    return (await writes.run(conn))[inserted]


async def _table(db: Database) -> None:
    async with db.transaction() as conn:
        kind = "JSONB" if db.dialect == "postgresql" else "TEXT"
        await conn.execute(TABLE.format(json=kind))


async def test_rows_past_one_statement_are_all_written_and_read_back(db: Database) -> None:
    await _table(db)
    count = MAX_ROWS_PER_STATEMENT * 2 + 7  # three statements on SQLite, the last one short
    rows = [
        (f"r{i:05}", i, None if i % 7 == 0 else "x" * (i % 5), f'{{"i": {i}}}')
        for i in range(count)
    ]
    async with db.transaction() as conn:
        assert await insert_rows(conn, "rows_test", COLUMNS, rows) == count
    async with db.connection() as conn:
        found = await conn.fetch("SELECT id, n, s FROM rows_test ORDER BY id")
        picked = await fetch_rows(
            conn,
            Columns.of("id text"),
            [("r00003",), ("r01000",), ("absent",)],
            "SELECT id, n FROM rows_test WHERE id IN (SELECT id FROM v) ORDER BY id",
        )
    assert [tuple(row) for row in found] == [row[:3] for row in rows]
    assert [tuple(row) for row in picked] == [("r00003", 3), ("r01000", 1000)]


async def test_one_row_and_many_rows_together_are_written_alike(db: Database) -> None:
    """One write of one row (a VALUES row on PostgreSQL) beside one of many (arrays)."""
    await _table(db)
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        writes.insert("rows_test", COLUMNS, [("one", 1, None, '{"k": [1, "x"]}')])
        writes.insert("rows_test", COLUMNS, [("two", 2, "b", "{}"), ("three", 3, None, "[]")])
        assert await writes.run(conn) == [1, 2]
        alone = await execute_rows(
            conn,
            Columns.of("id text, n bigint"),
            [("two", 20)],
            "UPDATE rows_test AS t SET n = v.n FROM v WHERE t.id = v.id",
        )
    async with db.connection() as conn:
        found = await conn.fetch("SELECT id, n, s, j FROM rows_test ORDER BY id")
        picked = await fetch_rows(
            conn,
            Columns.of("id text"),
            [("one",)],
            "SELECT id FROM rows_test WHERE id = (SELECT id FROM v)",
        )
    assert alone == 1
    assert [(row["id"], row["n"], row["s"]) for row in found] == [
        ("one", 1, None),
        ("three", 3, None),
        ("two", 20, "b"),
    ]
    assert [row["id"] for row in picked] == ["one"]


async def test_conflicting_rows_are_skipped_and_counted_out(db: Database) -> None:
    await _table(db)
    async with db.transaction() as conn:
        await insert_rows(conn, "rows_test", COLUMNS, [("a", 1, "x", "{}")])
        written = await insert_rows(
            conn,
            "rows_test",
            COLUMNS,
            [("a", 2, "y", "{}"), ("b", 3, "z", "{}")],
            " ON CONFLICT DO NOTHING",
        )
    assert written == 1


async def test_an_update_reads_its_new_values_from_the_rows(db: Database) -> None:
    await _table(db)
    async with db.transaction() as conn:
        await insert_rows(conn, "rows_test", COLUMNS, [("a", 1, "x", "{}"), ("b", 2, "y", "{}")])
        changed = await execute_rows(
            conn,
            Columns.of("id text, n bigint"),
            [("a", 10), ("c", 30)],
            "UPDATE rows_test AS t SET n = v.n FROM v WHERE t.id = v.id",
        )
    async with db.connection() as conn:
        found = await conn.fetch("SELECT id, n FROM rows_test ORDER BY id")
    assert changed == 1
    assert [tuple(row) for row in found] == [("a", 10), ("b", 2)]


async def test_nothing_to_insert_runs_no_statement(db: Database) -> None:
    async with db.transaction() as conn:
        assert await insert_rows(conn, "no_such_table", COLUMNS, []) == 0


async def test_writes_run_together_and_each_is_counted(db: Database) -> None:
    await _table(db)
    async with db.transaction() as conn:
        await insert_rows(conn, "rows_test", COLUMNS, [("a", 1, "x", "{}"), ("b", 2, "y", "{}")])
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        inserted = writes.insert(
            "rows_test",
            COLUMNS,
            [("b", 20, "dup", "{}"), ("c", 3, "z", '{"k": [1]}')],
            " ON CONFLICT DO NOTHING",
        )
        nothing = writes.insert("no_such_table", COLUMNS, [])  # no rows: not sent
        updated = writes.execute(
            Columns.of("id text, s text"),
            [("a", "changed"), ("absent", "-")],
            "UPDATE rows_test AS t SET s = v.s FROM v WHERE t.id = v.id",
        )
        changed = await writes.run(conn)
    async with db.connection() as conn:
        found = await conn.fetch("SELECT id, n, s FROM rows_test ORDER BY id")
    assert (changed[inserted], changed[nothing], changed[updated]) == (1, 0, 1)
    assert [tuple(row) for row in found] == [("a", 1, "changed"), ("b", 2, "y"), ("c", 3, "z")]


async def test_a_read_goes_with_the_writes_and_sees_none_of_them(db: Database) -> None:
    """Added before the insert, a read finds the rows as they were (its rows kept, counted),
    alone or among writes; a read with no rows to read with is not sent."""
    await _table(db)
    async with db.transaction() as conn:
        await insert_rows(conn, "rows_test", COLUMNS, [("a", 1, "x", "{}"), ("b", 2, "y", "{}")])
    keys = Columns.of("id text")
    asked = "SELECT t.id, t.n FROM rows_test t WHERE t.id IN (SELECT id FROM v) ORDER BY t.id"
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        read = writes.read(keys, [("b",), ("c",), ("a",)], asked)
        unsent = writes.read(keys, [], asked)
        inserted = writes.insert("rows_test", COLUMNS, [("c", 3, "z", "{}")])
        changed = await writes.run(conn)
    assert (changed[read], changed[inserted], changed[unsent]) == (2, 1, 0)
    assert (writes.found(read), writes.found(unsent)) == ([("a", 1), ("b", 2)], [])
    async with db.transaction() as conn:
        alone = Writes(conn.dialect)
        read = alone.read(keys, [("c",)], asked)
        await alone.run(conn)
    assert alone.found(read) == [("c", 3)]


async def test_writes_fail_together(db: Database) -> None:
    """One write breaking a constraint fails them all: nothing is written."""
    await _table(db)
    async with db.transaction() as conn:
        await insert_rows(conn, "rows_test", COLUMNS, [("a", 1, "x", "{}")])
    with pytest.raises(StorageError):
        async with db.transaction() as conn:
            writes = Writes(conn.dialect)
            writes.insert("rows_test", COLUMNS, [("b", 2, "y", "{}")])
            writes.insert("rows_test", COLUMNS, [("a", 3, "again", "{}")])  # the same key
            await writes.run(conn)
    async with db.connection() as conn:
        assert [row["id"] for row in await conn.fetch("SELECT id FROM rows_test")] == ["a"]


async def test_a_write_per_row_runs_after_the_row_sets_and_counts_its_rows(db: Database) -> None:
    await _table(db)
    async with db.transaction() as conn:
        await insert_rows(conn, "rows_test", COLUMNS, [("a", 1, "x", "{}"), ("b", 2, "y", "{}")])
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        each = writes.each("UPDATE rows_test SET n = $2 WHERE id = $1", [("a", 10), ("b", 20)])
        none = writes.each("UPDATE rows_test SET n = $2 WHERE id = $1", [])
        inserted = writes.insert("rows_test", COLUMNS, [("c", 3, None, "[]")])
        changed = await writes.run(conn)
        found = await conn.fetchmany(
            "SELECT id, n FROM rows_test WHERE id = $1", [("c",), ("absent",), ("a",)]
        )
    assert (changed[each], changed[none], changed[inserted]) == (2, 0, 1)
    assert [tuple(row) for row in found] == [("c", 3), ("a", 10)]
