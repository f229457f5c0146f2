"""A database's write transaction on each back-end: committed when its block ends, rolled back
when the block raises (the block's error unchanged, or translated if the driver's), and the
connection given back either way."""

from __future__ import annotations

import asyncio

import pytest

from rampwire.errors import DuplicateRow, StorageError
from rampwire.storage import Database, open_database

TABLE = "CREATE TABLE txn_test (id TEXT PRIMARY KEY)"


async def _ids(db: Database) -> list[str]:
    async with db.connection() as conn:
        return [row["id"] for row in await conn.fetch("SELECT id FROM txn_test ORDER BY id")]


def _in_use(db: Database) -> float:
    usage = getattr(db, "pool_usage", lambda: {})()
    return float(usage.get("in_use", 0) + usage.get("waiting", 0))


async def test_commits_when_the_block_ends(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(TABLE)
        await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "a")
    assert await _ids(db) == ["a"]
    assert _in_use(db) == 0


async def test_rolls_back_and_keeps_the_blocks_error(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(TABLE)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "a")
            raise Boom
    assert await _ids(db) == []
    assert _in_use(db) == 0
    async with db.transaction() as conn:  # the connection is usable again
        await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "b")
    assert await _ids(db) == ["b"]


async def test_a_duplicate_is_translated_and_rolled_back(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(TABLE)
        await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "a")
    with pytest.raises(DuplicateRow) as caught:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "b")
            await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "a")
    assert caught.value.table == "txn_test"
    assert await _ids(db) == ["a"]
    assert _in_use(db) == 0


async def test_a_closed_database_refuses(database_url: str) -> None:
    db = open_database(database_url)
    with pytest.raises(StorageError, match="database is not open"):
        async with db.transaction():
            pass
    with pytest.raises(StorageError, match="database is not open"):
        async with db.connection():
            pass


async def test_a_cancelled_block_is_rolled_back_and_its_connection_given_back(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        await conn.execute(TABLE)
    inside = asyncio.Event()

    async def stuck() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "a")
            inside.set()
            await asyncio.Event().wait()  # cancelled here, the insert not committed

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _ids(db) == []
    assert _in_use(db) == 0
    async with db.transaction() as conn:  # the back-end takes writes again
        await conn.execute("INSERT INTO txn_test (id) VALUES ($1)", "b")
    assert await _ids(db) == ["b"]
