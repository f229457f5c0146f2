"""storage.database: a row-set statement's text is made once per shape, and the same text
object is sent each time (the driver's statement cache finds it by its cached hash)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rampwire.storage.database import Columns, Writes, execute_rows

ROWS = Columns.of("id text, n bigint")
KEYS = Columns.of("k text", row_type="keys_row")


class Recorder:
    """A PostgreSQL connection that records what it is sent."""

    dialect = "postgresql"

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def fetchrow(self, sql: str, *args: Any) -> list[Any]:
        self.sent.append((sql, args))
        return [1, None, 1]

    async def execute(self, sql: str, *args: Any) -> int:
        self.sent.append((sql, args))
        return 1


def together(rows: int, keys: int) -> tuple[str, tuple[Any, ...]]:
    conn = Recorder()
    writes = Writes("postgresql")
    writes.insert("t", ROWS, [(f"id{n}", n) for n in range(rows)])
    writes.read(KEYS, [(f"k{n}",) for n in range(keys)], "SELECT k FROM v")
    writes.execute(ROWS, [("x", 1)], "UPDATE t SET n = v.n FROM v WHERE t.id = v.id")
    asyncio.run(writes.run(conn))  # type: ignore[arg-type]
    ((sql, args),) = conn.sent
    return sql, args


def test_one_text_per_shape() -> None:
    first, first_args = together(1, 3)
    again, again_args = together(1, 5)  # many keys: one array whatever their count
    assert again is first
    assert again_args != first_args
    assert together(2, 3)[0] != first  # one row is a VALUES list, more an array


def test_parameters_numbered_in_order() -> None:
    for rows, keys in ((1, 1), (1, 4), (3, 1), (4, 4)):
        sql, args = together(rows, keys)
        numbers = [int(n) for n in re.findall(r"\$(\d+)", sql)]
        assert sorted(set(numbers)) == list(range(1, len(args) + 1)), sql


def test_a_row_set_statement_made_once() -> None:
    sent = []
    for n in (3, 7):
        conn = Recorder()
        asyncio.run(execute_rows(conn, ROWS, [(f"id{i}", i) for i in range(n)], "SELECT 1"))  # type: ignore[arg-type]
        sent.append(conn.sent[0][0])
    assert sent[0] is sent[1]
