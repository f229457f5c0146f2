"""How long each kind of transaction holds SQLite's one writer, and waits for it, during the
sustained phase with the orders spread over N partners (the publisher in the worker's process,
as in ``rampwire serve``). A diagnosis, not a benchmark (``make bench`` skips ``_`` scripts):
``SqliteDatabase.transaction`` is wrapped here and each transaction named by its caller.

    cd bench && ../.venv/bin/python _writer_locks.py 1000 && ../.venv/bin/python _writer_locks.py 1
"""

import asyncio
import collections
import contextlib
import secrets
import sys
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import uvloop
from delivery import worker_running
from harness.databases import PG_ADMIN_URL, fresh_database
from harness.publisher import Publisher, PublishPlan
from harness.receiver import ReceiverProcess
from harness.tenants import count_succeeded_since, make_tenants

from rampwire.crypto import SecretBox
from rampwire.repository.endpoints import EndpointRepository
from rampwire.storage import sqlite as sq
from rampwire.storage.database import to_us
from rampwire.types import utcnow

stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])  # n, wait, hold
on = False
orig = sq.SqliteDatabase.transaction
KINDS = (
    "_write_creates",
    "_write_changes",
    "record",
    "claim",
    "renew",
    "release",
    "cancel_claimed",
)


@contextlib.asynccontextmanager
async def timed(self: Any) -> AsyncIterator[Any]:
    kind = "other"
    for f in traceback.extract_stack(limit=8):
        if f.name in KINDS:
            kind = f.name
    t0 = time.perf_counter()
    async with orig(self) as conn:
        t1 = time.perf_counter()
        try:
            yield conn
        finally:
            t2 = time.perf_counter()
            if on:
                s = stats[kind]
                s[0] += 1
                s[1] += t1 - t0
                s[2] += t2 - t1


sq.SqliteDatabase.transaction = timed  # type: ignore[method-assign]


async def main(count: int) -> None:
    global on
    fast = ReceiverProcess(0.0)
    fast.start()
    try:
        async with fresh_database("sqlite", PG_ADMIN_URL) as db:
            box = SecretBox(secrets.token_bytes(32))
            partners, _ = await make_tenants(db, EndpointRepository(db, box), fast.url, count, 256)
            plan = PublishPlan(
                mode="flood", duration=11, tasks=8, max_backlog=5000, partners=tuple(partners)
            )
            since = to_us(utcnow())
            async with worker_running(db, box, 256) as worker:
                pub = Publisher(db, worker, plan, "inline")
                await pub.start()
                await asyncio.sleep(2)
                before = await count_succeeded_since(db, since)
                start = time.perf_counter()
                on = True
                await asyncio.sleep(8)
                on = False
                n = await count_succeeded_since(db, since) - before
                el = time.perf_counter() - start
                res = await pub.result()
            print(
                f"partners={count}: {n / el:.0f} deliveries/s,"
                f" published {res.events / res.elapsed:.0f}/s"
            )
            for kind, (c, w, h) in sorted(stats.items(), key=lambda x: -x[1][2]):
                print(
                    f"  {kind:16s} {c:6.0f} tx, hold {h * 1e3 / c:.2f} ms/tx ({h:.2f} s),"
                    f" wait {w * 1e3 / c:.2f} ms/tx"
                )
            stats.clear()
    finally:
        fast.stop()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
