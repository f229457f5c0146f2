"""The CLI's tables: aligned columns, cells made readable, long ones cut."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rampwire.cli.tables import MAX_CELL, cell, table


def test_columns_start_at_the_same_place_on_every_line() -> None:
    text = table([["ord_1", "created"], ["ord_22222", "completed"]], ["id", "status"])
    lines = text.splitlines()
    assert lines == ["ID         STATUS", "ord_1      created", "ord_22222  completed"]
    assert {
        line.index(word)
        for line, word in zip(lines, ["STATUS", "created", "completed"], strict=True)
    } == {11}


def test_cells_are_readable() -> None:
    assert cell(None) == "-" and cell(True) == "yes" and cell(False) == "no"
    assert cell(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert cell(Decimal("100.00")) == "100.00"
    assert cell({"currency": "EUR", "amount": None}) == '{"currency":"EUR"}'
    assert cell({"a": None}) == "-" and cell([]) == "-"
    long = cell("x" * 100)
    assert len(long) == MAX_CELL and long.endswith("…")
    assert cell("two\nlines") == "two lines"
