"""Listing filters: each value the next placeholder, absent filters no condition."""

from __future__ import annotations

from rampwire.storage.database import Where


def test_given_filters_become_numbered_conditions_then_the_page() -> None:
    where = Where()
    where.equals("provider", "transak")
    where.equals("side", None)
    where.one_of("status", ["created", "paid"])
    where.one_of("kind", [])
    sql = where.newest_first("SELECT id FROM t", before="ord_9", limit=20)
    assert sql == (
        "SELECT id FROM t WHERE provider = $1 AND status IN ($2, $3) AND id < $4"
        " ORDER BY id DESC LIMIT $5"
    )
    assert where.args == ["transak", "created", "paid", "ord_9", 20]


def test_no_filter_lists_everything_newest_first() -> None:
    where = Where()
    assert where.newest_first("SELECT id FROM t", before=None, limit=5) == (
        "SELECT id FROM t ORDER BY id DESC LIMIT $1"
    )
    assert where.args == [5]
