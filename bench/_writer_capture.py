"""A warm worker's drain on SQLite, its writer's statements captured for ``_writer_replay.py``:
the database as it was when the worker started (``start.db``) and every statement the writer
connection ran, with its arguments, in order (``log.pickle``); ``--profile``: cProfile's counts
of the drain too (``prof.stats``). A diagnosis, not a benchmark (``make bench`` skips ``_``
scripts). The drain is ``_callgrind_partners.py --warm``'s, run at full speed, without valgrind:

    cd bench && ../.venv/bin/python _writer_capture.py --partners 1000 --out /tmp/cap-1000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pickle
import secrets
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import _callgrind_partners as partners_drain
import uvloop
from harness.databases import PG_ADMIN_URL, fresh_database
from harness.receiver import ReceiverProcess
from harness.tenants import count_succeeded_since, make_tenants, queue_partner_orders

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.storage import sqlite as sqlite_storage
from rampwire.storage.database import to_us
from rampwire.types import utcnow

# (kind, statement as sqlite3 runs it, arguments): "x" execute, "m" executemany (a list of
# rows), "f" fetch, "c" commit, "r" rollback
captured: list[tuple[str, str, Any]] = []
writer: list[Any] = []  # the writer's aiosqlite connection, once the drain starts


def capture() -> None:
    """Wrap the SQLite connection's methods and transactions to append to ``captured``."""
    connection, database = sqlite_storage.SqliteConnection, sqlite_storage.SqliteDatabase
    execute, executemany, fetch = connection.execute, connection.executemany, connection.fetch
    transaction = database.transaction

    def mine(conn: Any) -> bool:
        return bool(writer) and conn._conn is writer[0]

    async def execute_captured(self: Any, sql: str, *args: Any) -> int:
        if mine(self):
            captured.append(("x", sqlite_storage._convert(sql), args))
        return await execute(self, sql, *args)

    async def executemany_captured(self: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if mine(self):
            captured.append(("m", sqlite_storage._convert(sql), [tuple(r) for r in rows]))
        await executemany(self, sql, rows)

    async def fetch_captured(self: Any, sql: str, *args: Any) -> list[Any]:
        if mine(self):
            captured.append(("f", sqlite_storage._convert(sql), args))
        return await fetch(self, sql, *args)

    @asynccontextmanager
    async def transaction_captured(self: Any) -> AsyncIterator[Any]:
        done = False
        try:
            async with transaction(self) as conn:
                yield conn
            done = True
        finally:
            if writer:
                captured.append(("c" if done else "r", "", ()))

    connection.execute = execute_captured  # type: ignore[method-assign]
    connection.executemany = executemany_captured  # type: ignore[method-assign]
    connection.fetch = fetch_captured  # type: ignore[method-assign]
    database.transaction = transaction_captured  # type: ignore[method-assign,assignment]


async def main(args: argparse.Namespace) -> None:
    receiver = ReceiverProcess(0.0)
    receiver.start()
    try:
        async with fresh_database("sqlite", PG_ADMIN_URL) as db:
            box = SecretBox(secrets.token_bytes(32))
            endpoints = EndpointRepository(db, box)
            partners, made = await make_tenants(db, endpoints, receiver.url, args.partners, 256)
            orders = args.events // 3
            since = to_us(utcnow())
            await queue_partner_orders(OrderRepository(db), partners, orders)
            worker = partners_drain.slow_worker(db, box)
            found = await endpoints.get_many(made)
            versions = {i: to_us(e.updated_at) for i, e in found.items()}
            await partners_drain.warm(worker._targets, versions, made, 170, counted=False)
            os.makedirs(args.out, exist_ok=True)
            source, copy = sqlite3.connect(db.path), sqlite3.connect(f"{args.out}/start.db")
            source.backup(copy)
            copy.close()
            source.close()
            writer.append(db._writer)
            profile = cProfile.Profile() if args.profile else None
            if profile is not None:
                profile.enable()
            stop = asyncio.Event()
            task = asyncio.ensure_future(worker.run(stop))
            while worker.sent < orders * 3:
                await asyncio.sleep(0.05)
            while await count_succeeded_since(db, since) < orders * 3:
                await asyncio.sleep(0.05)
            stop.set()
            await task
            writer.clear()
            if profile is not None:
                profile.disable()
                profile.dump_stats(f"{args.out}/prof.stats")
            with open(f"{args.out}/log.pickle", "wb") as out:
                pickle.dump(captured, out)
            print(
                f"{args.partners} partners: {worker.sent} sent, {worker.claims} claims,"
                f" {worker.record_batches} record transactions, {len(captured)} statements",
                flush=True,
            )
    finally:
        receiver.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--events", type=int, default=6000, help="deliveries drained")
    parser.add_argument("--out", required=True, help="a folder for start.db and log.pickle")
    parser.add_argument("--profile", action="store_true", help="cProfile the drain too")
    capture()
    with heap.settled():
        uvloop.run(main(parser.parse_args()))
