"""The sustained phase's publishers alone, on PostgreSQL: PostgreSQL's CPU per event and how
often ``orders`` was read by a sequential scan.

    .venv/bin/python bench/publishers.py [--seconds 12] [--processes 4] [--tasks 8] [--keeper]

A fresh database ``rampwire_bench_<random>`` (dropped at the end), empty as the sustained phase
starts, with one subscribed endpoint and no worker. ``--processes`` processes of ``--tasks``
tasks each make orders as ``delivery.py --phases sustained`` does (``OrderRepository.create``,
then two ``.change``: three events each) for ``--seconds``. ``--keeper``: this process runs the
statistics keeper meanwhile (``rampwire.storage.statistics.keep``, as the worker and ``serve``
do), whose ``ANALYZE`` drops the plans PostgreSQL cached while the tables were small. Printed:
events, calls per transaction, PostgreSQL's CPU per event (its backends, from /proc), the
publishers' CPU per event, and the sequential scans of ``orders`` with the rows they read
(``pg_stat_user_tables``, read after the statistics collector caught up).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from typing import Any

import uvloop
from harness.cpu import PostgresCpu
from harness.databases import PG_ADMIN_URL, fresh_database_url
from harness.workload import change_order, create_order, make_endpoint

from rampwire.crypto import SecretBox
from rampwire.domain.orders import OrderStatus
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.storage import migrate, open_database, statistics

STATS_DELAY_S = 1.5  # a backend reports its table counts up to a second after its last commit


def _publisher(url: str, seconds: float, tasks: int, out: Any) -> None:
    async def main() -> None:
        db = open_database(url)
        await db.open()
        orders = OrderRepository(db)
        events = 0
        start = time.process_time()
        end = time.monotonic() + seconds

        async def loop() -> None:
            nonlocal events
            while time.monotonic() < end:
                order_id, *_ = await create_order(orders)
                await change_order(orders, order_id, OrderStatus.PROCESSING)
                await change_order(orders, order_id, OrderStatus.COMPLETED)
                events += 3

        await asyncio.gather(*(loop() for _ in range(tasks)))
        out.put((events, time.process_time() - start, orders.transactions))
        await db.close()

    uvloop.run(main())


async def run(args: argparse.Namespace) -> None:
    spawn = multiprocessing.get_context("spawn")
    async with fresh_database_url("postgresql", args.postgres_url) as (url, _):
        db = open_database(url)
        await db.open()
        try:
            await migrate(db)
            box = SecretBox(b"\x07" * 32)
            await make_endpoint(EndpointRepository(db, box), "http://127.0.0.1:9/hook", 256)
            stop = asyncio.Event()
            keeper = asyncio.create_task(statistics.keep(db, stop)) if args.keeper else None
            cpu = PostgresCpu(db)
            await cpu.start()
            out = spawn.Queue()
            processes = [
                spawn.Process(target=_publisher, args=(url, args.seconds, args.tasks, out))
                for _ in range(args.processes)
            ]
            for process in processes:
                process.start()
            results = [await asyncio.to_thread(out.get) for _ in processes]
            for process in processes:
                process.join()
            postgres = await cpu.stop()
            stop.set()
            if keeper is not None:
                await keeper
            events = sum(r[0] for r in results)
            own = sum(r[1] for r in results)
            transactions = sum(r[2] for r in results)
            await asyncio.sleep(STATS_DELAY_S)
            async with db.connection() as conn:
                scans = await conn.fetchrow(
                    "SELECT seq_scan, seq_tup_read, n_live_tup FROM pg_stat_user_tables"
                    " WHERE relname = 'orders'"
                )
            assert scans is not None
            print(
                f"{events:,} events ({events / args.seconds:,.0f}/s),"
                f" {events / max(transactions, 1):.1f} calls per transaction;"
                f" PostgreSQL CPU {postgres / events * 1e6:,.0f} us,"
                f" publishers' CPU {own / events * 1e6:,.0f} us per event;"
                f" orders: {scans['seq_scan']:,} sequential scans read"
                f" {scans['seq_tup_read']:,} rows ({scans['n_live_tup']:,} orders)",
                flush=True,
            )
        finally:
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=8, help="publish loops per process")
    parser.add_argument("--keeper", action="store_true", help="run the statistics keeper")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
