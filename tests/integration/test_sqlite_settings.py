"""The SQLite connections' settings, and the statement rollback that one of them moves into
memory: a failing statement inside a transaction undoes its own rows and keeps the earlier ones.
"""

from __future__ import annotations

import pytest

from rampwire.errors import DuplicateRow
from rampwire.storage.sqlite import SqliteDatabase

SETTINGS = {"journal_mode": "wal", "synchronous": 1, "temp_store": 2, "foreign_keys": 1}
ROWS = 2_000  # enough pages that a statement journal would spill to a file (past 64 KiB)


async def test_both_connections_run_the_settings(sqlite_url: str) -> None:
    db = SqliteDatabase(sqlite_url)
    await db.open()
    try:
        async with db.transaction() as conn:
            writer = {name: await conn.fetchval(f"PRAGMA {name}") for name in SETTINGS}
        async with db.connection() as conn:
            reader = {name: await conn.fetchval(f"PRAGMA {name}") for name in SETTINGS}
    finally:
        await db.close()
    assert writer == SETTINGS
    assert reader == SETTINGS


async def test_a_failing_statement_rolls_back_only_itself(sqlite_url: str) -> None:
    db = SqliteDatabase(sqlite_url)
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT)")
        with pytest.raises(DuplicateRow):
            async with db.transaction() as conn:
                await conn.execute(
                    "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)"
                    " INSERT INTO t (k, v) SELECT 'k' || i, printf('%.500c', 'x') FROM n",
                    ROWS,
                )
                try:  # 2,000 rows (~1 MiB) written, then the last one fails
                    await conn.execute(
                        "INSERT INTO t (k, v) SELECT 'n' || id, v FROM t"
                        " UNION ALL SELECT 'k1', 'dup'"
                    )
                except DuplicateRow:
                    kept = await conn.fetchval("SELECT count(*) FROM t")
                    raise
        assert kept == ROWS
        async with db.connection() as conn:
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await db.close()
