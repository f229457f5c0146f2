"""Several rows in one INSERT: placeholders shifted per row, chunked below parameter limits."""

from __future__ import annotations

from rampwire.storage import Database
from rampwire.storage.database import MAX_ROWS_PER_INSERT, insert_rows, rows_sql


def test_each_row_takes_the_next_placeholders_and_repeats_its_own() -> None:
    sql = rows_sql("INSERT INTO t (a, b, c) VALUES", "($1, 'k', $2, $2)", 3, " RETURNING a")
    assert sql == (
        "INSERT INTO t (a, b, c) VALUES ($1, 'k', $2, $2), ($3, 'k', $4, $4),"
        " ($5, 'k', $6, $6) RETURNING a"
    )


async def test_rows_past_one_statement_are_all_written_in_order(db: Database) -> None:
    count = MAX_ROWS_PER_INSERT * 2 + 7  # three statements, the last one short
    rows = [(f"r{index:05}", index, "x" * (index % 5)) for index in range(count)]
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE rows_test (id TEXT PRIMARY KEY, n BIGINT, s TEXT)")
        await insert_rows(conn, "INSERT INTO rows_test (id, n, s) VALUES", "($1, $2, $3)", rows)
    async with db.connection() as conn:
        found = await conn.fetch("SELECT id, n, s FROM rows_test ORDER BY id")
    assert [tuple(row) for row in found] == rows


async def test_nothing_to_insert_runs_no_statement(db: Database) -> None:
    async with db.transaction() as conn:
        await insert_rows(conn, "INSERT INTO no_such_table (a) VALUES", "($1)", [])
