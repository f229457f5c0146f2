"""The publisher's cost per order over N partners: a flood of orders, each created and changed
twice through ``OrderRepository`` (as ``harness.publisher``'s flood publisher does), round-robin
over N partners with two endpoints each and one all-partners operator endpoint
(``harness.tenants.make_tenants``, as ``delivery.py --phases partners``), no worker running. A
diagnosis, not a benchmark (``make bench`` skips ``_`` scripts). Run it under valgrind, once per
partner count, and divide PROGRAM TOTALS by the orders printed:

    cd bench && valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cgp.sqlite.1000.out ../.venv/bin/python \\
        _callgrind_publish_partners.py --backend sqlite --partners 1000 --orders 2000
    callgrind_annotate /tmp/cgp.sqlite.1000.out | head   # PROGRAM TOTALS / orders = per order

On SQLite the count holds SQLite's own work (it runs in this process); on PostgreSQL only this
process's (the API node's), the server's being what ``--statements`` prints: with
``--admin-url`` a cluster whose ``shared_preload_libraries`` holds ``pg_stat_statements``, each
statement's calls, buffers hit and dirtied and WAL bytes per order, and the database's WAL bytes
per order (``pg_current_wal_lsn`` before and after). ``--profile PATH``: cProfile (run without
valgrind) over the counted orders, saved to ``PATH``, the top functions by own time and the
function calls per order printed.

``--warmup`` orders are published first, uncounted (prepared statements, the decoded-subscriber
cache, the order bodies' cache); then the ``--orders`` counted ones, ``--tasks`` publishers at a
time, so that group commit batches about as many orders of as many partners as the flood does.
The transactions and deliveries printed let two runs be checked for the same shape.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import os
import pstats
import subprocess
import time

import uvloop
from harness.databases import PG_ADMIN_URL, fresh_database
from harness.tenants import make_tenants
from harness.workload import change_order, create_order

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.domain.orders import OrderStatus
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.storage import Database

UNREACHED_URL = "http://127.0.0.1:9/hook"  # endpoints are never sent to: no worker runs
MAX_IN_FLIGHT = 256


def instrument(on: bool) -> None:
    """Switch callgrind's counting for this process (nothing without valgrind)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=False,
        capture_output=True,
    )


async def flood(orders: OrderRepository, partners: list[str], count: int, tasks: int) -> int:
    """``count`` orders round-robin over ``partners``, each created then changed twice,
    ``tasks`` at a time; returns the events published."""
    owners = itertools.cycle(partners)
    left = count
    events = 0

    async def loop() -> None:
        nonlocal left, events
        while left > 0:
            left -= 1
            order_id, *_ = await create_order(orders, next(owners))
            events += 1
            for status in (OrderStatus.PROCESSING, OrderStatus.COMPLETED):
                made = await change_order(orders, order_id, status)
                events += made

    await asyncio.gather(*(loop() for _ in range(tasks)))
    return events


STATEMENTS = (
    "SELECT calls, shared_blks_hit, shared_blks_read, shared_blks_dirtied, wal_bytes,"
    " total_exec_time, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
    " WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'"
    " AND query NOT LIKE '%pg_current_wal_lsn%' ORDER BY total_exec_time DESC"
)


async def server_start(db: Database) -> int:
    """PostgreSQL: forget this database's statements; the WAL position now."""
    async with db.connection() as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
            " WHERE datname = current_database()), 0)"
        )
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def server_report(db: Database, wal_start: int, orders: int) -> None:
    """PostgreSQL: WAL bytes per order, and each statement's share per order."""
    async with db.connection() as conn:
        wal = int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")) - wal_start
        rows = await conn.fetch(STATEMENTS)
    print(f"WAL {wal / orders:,.0f} bytes/order (whole cluster)")
    print("calls/order  hit/order  dirtied/order  wal B/order  ms/order  statement")
    for row in rows:
        print(
            f"{row['calls'] / orders:11.3f} {row['shared_blks_hit'] / orders:10.2f}"
            f" {row['shared_blks_dirtied'] / orders:14.3f} {int(row['wal_bytes']) / orders:12.0f}"
            f" {row['total_exec_time'] / orders:9.4f}  {' '.join(row['query'].split())[:150]}"
        )


async def main(args: argparse.Namespace) -> None:
    async with fresh_database(args.backend, args.admin_url) as db:
        box = SecretBox(os.urandom(32))
        endpoints = EndpointRepository(db, box)
        partners, _ = await make_tenants(db, endpoints, UNREACHED_URL, args.partners, MAX_IN_FLIGHT)
        orders = OrderRepository(db)
        await flood(orders, partners, args.warmup, args.tasks)
        if args.backend == "postgresql":
            async with db.connection() as conn:
                await conn.execute("ANALYZE")
        wal_start = await server_start(db) if args.statements else 0
        transactions = orders.transactions
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        instrument(True)
        if profile is not None:
            profile.enable()
        events = await flood(orders, partners, args.orders, args.tasks)
        if profile is not None:
            profile.disable()
        instrument(False)
        elapsed = time.perf_counter() - started
        transactions = orders.transactions - transactions
        print(
            f"{args.backend}, {args.partners} partners: {args.orders} orders, {events} events,"
            f" {transactions} transactions ({3 * args.orders / transactions:.1f} calls each),"
            f" {elapsed:.1f} s",
            flush=True,
        )
        if args.statements:
            await server_report(db, wal_start, args.orders)
        if profile is not None:
            profile.dump_stats(args.profile)
            stats = pstats.Stats(profile)
            calls = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
            print(f"{calls / args.orders:,.0f} Python function calls/order")
            stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=2000, help="orders counted")
    parser.add_argument("--warmup", type=int, default=1000, help="orders before the count")
    parser.add_argument("--tasks", type=int, default=8, help="publishers at a time")
    parser.add_argument("--admin-url", default=PG_ADMIN_URL, help="PostgreSQL: the cluster")
    parser.add_argument("--statements", action="store_true", help="PostgreSQL: server side")
    parser.add_argument("--profile", help="cProfile the counted orders into this file")
    with heap.settled():
        uvloop.run(main(parser.parse_args()))
