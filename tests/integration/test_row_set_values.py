"""Row sets keep every value as given, whatever form they travel in: strings with escapes,
control characters and characters outside the BMP, 64-bit integers, NULL in every column, and a
``json`` column's text as written (its spacing and key order too)."""

from __future__ import annotations

from typing import Any

import pytest

from rampwire.storage import Database
from rampwire.storage.database import Columns, Writes, execute_rows, fetch_rows
from rampwire.storage.texts import split_texts

COLUMNS = Columns.of("id text, n bigint, i integer, s text, j json, b jsonb")
TABLE = (
    "CREATE TABLE row_values (id TEXT PRIMARY KEY, n BIGINT, i INTEGER, s TEXT, j {json},"
    " b {jsonb})"
)
ROWS: list[tuple[Any, ...]] = [
    ("plain", 1, 2, "text", '{"a": 1}', '{"a": 1}'),
    ("escapes", -(2**63), -(2**31), 'quote " back \\ slash / nl \n tab \t', "[]", "[]"),
    ("control", 2**63 - 1, 2**31 - 1, "\x01\x1f\x7f", '{"k":  [1,2] , "a": "\\u00e9"}', "{}"),
    ("unicode", 0, 0, "é ü 漢字 😀 \u2028 \u2029", '"😀"', '"😀"'),
    ("looks like json", 3, 3, '{"not": "parsed"}', "null", "null"),
    ("nulls", None, None, None, None, None),
    ("empty", 4, 4, "", '""', '""'),
]


async def _table(db: Database) -> None:
    postgres = db.dialect == "postgresql"
    async with db.transaction() as conn:
        await conn.execute(
            TABLE.format(json="JSON" if postgres else "TEXT", jsonb="JSONB" if postgres else "TEXT")
        )


def _jsonb(db: Database, value: str | None) -> str | None:
    """What the database gives back for a ``jsonb`` value: PostgreSQL's own spelling."""
    if value is None or db.dialect != "postgresql":
        return value
    return {'{"a": 1}': '{"a": 1}', "[]": "[]", "{}": "{}"}.get(value, value)


@pytest.mark.parametrize("count", [1, len(ROWS)])
async def test_written_rows_read_back_exactly(db: Database, count: int) -> None:
    """One row (a VALUES row on PostgreSQL) and many (a row set), through :class:`Writes`
    with another write beside it, and alone."""
    await _table(db)
    rows = ROWS[:count]
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        written = writes.insert("row_values", COLUMNS, rows)
        writes.insert("row_values", COLUMNS, [(f"{row[0]} again", *row[1:]) for row in rows])
        assert (await writes.run(conn))[written] == count
        alone = await execute_rows(
            conn,
            COLUMNS,
            [(f"{row[0]} alone", *row[1:]) for row in rows],
            "INSERT INTO row_values SELECT * FROM v",
        )
    assert alone == count
    async with db.connection() as conn:
        found = {
            row["id"]: tuple(row)
            for row in await conn.fetch("SELECT id, n, i, s, j, b FROM row_values")
        }
    for suffix in ("", " again", " alone"):
        for row in rows:
            got = found[row[0] + suffix]
            assert got[1:5] == row[1:5]  # json as written, byte for byte
            assert got[5] == _jsonb(db, row[5])


async def test_a_query_over_a_row_set_matches_each_value(db: Database) -> None:
    """A read's row set (``fetch_rows``) compares equal to the stored values, NULL aside."""
    await _table(db)
    async with db.transaction() as conn:
        await execute_rows(conn, COLUMNS, ROWS, "INSERT INTO row_values SELECT * FROM v")
    keys = Columns.of("s text, n bigint")
    async with db.connection() as conn:
        found = await fetch_rows(
            conn,
            keys,
            [(row[3], row[1]) for row in ROWS],
            "SELECT r.id FROM row_values r JOIN v ON r.s = v.s AND r.n = v.n ORDER BY r.id",
        )
    assert [row["id"] for row in found] == sorted(row[0] for row in ROWS if row[1] is not None)


TEXTS: list[list[str | None]] = [
    ["a", "b", "", None, "é 漢字 😀", 'quote " back \\ slash {x,y} NULL'],
    ["\x1f holds the separator", "\x1e", None, "\x01\x1d"],
    ["\x1e", ""],  # the text that stands for NULL, where nothing is NULL: a value
    [],
    ["one"],
]


@pytest.mark.parametrize("together", [False, True])
async def test_postgresql_splits_texts_back_into_their_values(db: Database, together: bool) -> None:
    """``split_texts`` as the server reads it, ``string_to_array(text, separator, null)``: each
    column alone, and all of them with one separator and null."""
    if db.dialect != "postgresql":
        pytest.skip("string_to_array is PostgreSQL's")
    groups = [TEXTS] if together else [[column] for column in TEXTS]
    async with db.connection() as conn:
        for group in groups:
            split = split_texts(group)
            assert split is not None
            texts, separator, null = split
            for text, column in zip(texts, group, strict=True):
                found = await conn.fetchval(
                    "SELECT string_to_array($1, $2, $3)", text, separator, null
                )
                assert found == column
