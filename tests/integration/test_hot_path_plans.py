"""The statements of the hot paths find their rows by an index: none reads a whole table that
grows with traffic.

Every statement that ingest (new orders, then their changes, and copies of requests), the API's
creates and changes, and the worker (claims, sends, results, retries, a dead delivery and its
replay, FIFO) run on SQLite is recorded as it runs, then planned again with its own arguments by
``EXPLAIN QUERY PLAN`` on the same database. A full scan of orders, inbound, events, timeline or
deliveries fails the test: such a statement costs in proportion to the table, and SQLite's
planner gives the same plan for ten rows as for ten million (it keeps no statistics here). A
partial index that the query does not imply is the way this went wrong once: every ingest batch
read the whole orders table (docs/benchmarks.md, "SQLite ingest slowed as orders grew").
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.receivers import receiver

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.storage import Database
from rampwire.storage import sqlite as sqlite_storage
from rampwire.types import utcnow

S = OrderStatus
GROWING = ("orders", "inbound", "events", "timeline", "deliveries")
# "SCAN <table or its alias>" is a read of every row (through an index or not); "SEARCH" is a
# lookup. The statements name their tables or these aliases.
ALIASES = {"o": "orders", "i": "inbound", "e": "events", "d": "deliveries", "t": "timeline"}
SCAN = re.compile(r"^SCAN (\w+)")
ORDER = {
    "side": "buy",
    "fiat": {"currency": "EUR", "amount": "100.00"},
    "crypto": {"asset": "USDC", "network": "ETHEREUM", "amount": "99.5"},
    "wallet_address": "0xabc",
}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Sequence[Any]]]:
    """Every statement (with its arguments) the SQLite connections run from now on."""
    seen: list[tuple[str, Sequence[Any]]] = []
    connection = sqlite_storage.SqliteConnection

    def watching(name: str) -> None:
        original = getattr(connection, name)

        async def run(self: Any, sql: str, *args: Any) -> Any:
            if name == "executemany":
                seen.extend((sql, row) for row in args[0])
            else:
                seen.append((sql, args))
            return await original(self, sql, *args)

        monkeypatch.setattr(connection, name, run)

    for name in ("execute", "executemany", "fetch"):
        watching(name)
    return seen


def full_scans(path: str, statements: list[tuple[str, Sequence[Any]]]) -> list[str]:
    found: list[str] = []
    plans = sqlite3.connect(path)
    try:
        for sql, args in statements:
            text = sqlite_storage._convert(sql)
            if not text.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
                continue
            for *_, step in plans.execute(f"EXPLAIN QUERY PLAN {text}", tuple(args)):
                scanned = SCAN.match(step)
                if scanned and ALIASES.get(scanned[1], scanned[1]) in GROWING:
                    found.append(f"{step}\n    in: {sql}")
    finally:
        plans.close()
    return found


async def test_ingest_and_creates_read_no_growing_table_whole(
    api: httpx.AsyncClient, db: Database, recorded: list[tuple[str, Sequence[Any]]]
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite's plans do not depend on the data; PostgreSQL's do")
    source = (await make_source(api, Provider.TRANSAK))["id"]
    now = utcnow()
    made = [
        sample_order(DialectName.TRANSAK, S.CREATED, Side.SELL, now=now + timedelta(seconds=i))
        for i in range(12)
    ]
    for status in (S.PROCESSING, S.COMPLETED):  # new orders, then changes of known ones
        requests = [webhook(Provider.TRANSAK, order, status, now=now) for order in made]
        answers = await asyncio.gather(*(send(api, source, r) for r in requests))
        assert {a.status_code for a in answers} == {200}
    again = await send(api, source, requests[0])  # a copy: the log's de-duplication
    assert again.json()["duplicate"] is True
    created = await api.post("/v1/orders", json=ORDER)  # and the API's create and change
    assert created.status_code == 201, created.text
    changed = await api.post(
        f"/v1/orders/{created.json()['id']}/changes", json={"status": "payment_received"}
    )
    assert changed.status_code == 200, changed.text
    assert len(recorded) > 20
    path = db.url.removeprefix("sqlite:///")
    assert full_scans(path, recorded) == []


async def test_the_worker_reads_no_growing_table_whole(
    api: httpx.AsyncClient, db: Database, recorded: list[tuple[str, Sequence[Any]]]
) -> None:
    """Claims, sends, results, retries, a dead delivery and its replay, FIFO."""
    if db.dialect != "sqlite":
        pytest.skip("SQLite's plans do not depend on the data; PostgreSQL's do")
    async with receiver() as hooks, receiver() as failing:
        failing.answer = lambda _: 503
        fast = {"retry_delays": [0.05, 0.05], "jitter": 0.0}
        endpoints = [
            await api.post("/v1/endpoints", json={"url": hooks.url}),
            await api.post("/v1/endpoints", json={"url": hooks.url, "ordering": "per_order_fifo"}),
            await api.post("/v1/endpoints", json={"url": failing.url, "retry_policy": fast}),
        ]
        assert {e.status_code for e in endpoints} == {201}
        for _ in range(3):
            order = (await api.post("/v1/orders", json=ORDER)).json()
            await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
        await hooks.wait_for(12)
        failing_id = endpoints[2].json()["id"]
        async with asyncio.timeout(20):
            while True:
                data = (await api.get(f"/v1/endpoints/{failing_id}/deliveries")).json()["data"]
                if len(data) == 6 and {d["status"] for d in data} == {"dead"}:
                    break
                await asyncio.sleep(0.05)
        failing.answer = lambda _: 200
        replay = await api.post(f"/v1/deliveries/{data[0]['id']}/replay")
        assert replay.status_code == 201, replay.text
        await failing.wait_for(6 * 3 + 1)
    path = db.url.removeprefix("sqlite:///")
    assert full_scans(path, recorded) == []
