"""PostgreSQL's own work per delivery in the sustained phase's shape, by measures the machine's
load moves little: its backends' CPU (/proc), WAL records and bytes, buffers, tuples written
and index entries, and each statement's share (``pg_stat_statements``, when it is loaded).

    cd bench && ../.venv/bin/python pg_work.py [--postgres-url URL] [--orders 1000]
                                               [--history 2000]
                                               [--processes 4] [--tasks 8] [--claim 24]
                                               [--rounds 3] [--statements 12] [--sql SQL]

Each round, a fresh database ``rampwire_bench_<random>`` (dropped at the end) with
``--history`` delivered orders and ``ANALYZE`` (``harness.workload.make_history``: with no
statistics the claim's update is planned as a scan of all deliveries), then one subscribed
endpoint. ``publish``: ``--processes`` processes of ``--tasks`` tasks make
``--orders`` orders as ``delivery.py --phases sustained`` does (``OrderRepository.create``, then
two ``.change``: three events, so three deliveries, per order; the tasks of a process share
transactions, 8 calls each). ``deliver``: the worker's storage work without HTTP
(``harness.workload.Deliverer``): claims of ``--claim`` (the sustained phase's worker claims
15-25 at a time) and their records as successful attempts. Printed per delivery, for each
phase: the CPU of the backends serving the database, WAL bytes and records
(``pg_current_wal_insert_lsn`` and ``pg_stat_wal``: the whole server's, so only exact on a
server of one's own), tuples inserted and updated, the share of updates written heap-only, and
the indexes' growth; with ``pg_stat_statements`` loaded, the ``--statements`` most expensive
statements of the database by executions, buffers and WAL per delivery. ``--sql`` (repeatable):
a statement run after the history, to measure a schema change before writing its migration.
``--waldump PG_WAL`` (the server's own ``pg_wal`` directory, so a server on this machine): each
phase's WAL records by kind (``pg_waldump --stats=record``), per delivery, to tell which
statements' records they are (a row lock is ``Heap/LOCK``, a lock shared by two transactions
a ``MultiXact/CREATE_ID``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import uvloop
from harness.cpu import PostgresCpu
from harness.databases import PG_ADMIN_URL, fresh_database_url
from harness.workload import Deliverer, change_order, create_order, make_endpoint, make_history

from rampwire.crypto import SecretBox
from rampwire.domain.orders import OrderStatus
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.storage import Database, migrate, open_database

STATS_DELAY_S = 1.5  # a backend reports its table counts up to a second after its last commit

_TABLES = (
    "SELECT coalesce(sum(n_tup_ins), 0) AS ins, coalesce(sum(n_tup_upd), 0) AS upd,"
    " coalesce(sum(n_tup_hot_upd), 0) AS hot,"
    " (SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_stat_user_indexes) AS idx,"
    " (SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_stat_user_tables) AS heap"
    " FROM pg_stat_user_tables"
)
_WAL = "SELECT pg_current_wal_insert_lsn() AS lsn, wal_records, wal_fpi, wal_bytes FROM pg_stat_wal"
_STATEMENTS = (
    "SELECT query, calls, rows, total_exec_time + total_plan_time AS time, plans,"
    " shared_blks_hit + shared_blks_read AS blocks, wal_records, wal_bytes"
    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)"
)


@dataclass(frozen=True)
class State:
    lsn: int
    wal_records: int
    wal_bytes: int
    inserted: int
    updated: int
    hot: int
    indexes: int
    heap: int


async def state(db: Database) -> State:
    await asyncio.sleep(STATS_DELAY_S)
    async with db.connection() as conn:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        wal = await conn.fetchrow(_WAL)
        tables = await conn.fetchrow(_TABLES)
        lsn = await conn.fetchval("SELECT $1::pg_lsn - '0/0'::pg_lsn", wal["lsn"])
    return State(
        lsn=int(lsn),
        wal_records=int(wal["wal_records"]),
        wal_bytes=int(wal["wal_bytes"]),
        inserted=int(tables["ins"]),
        updated=int(tables["upd"]),
        hot=int(tables["hot"]),
        indexes=int(tables["idx"]),
        heap=int(tables["heap"]),
    )


def phase_line(name: str, cpu: float, before: State, after: State, deliveries: int) -> str:
    per = max(deliveries, 1)
    updated = after.updated - before.updated
    return (
        f"  {name:<8} PostgreSQL CPU {cpu / per * 1e6:>5,.0f} us;"
        f" WAL {(after.lsn - before.lsn) / per:>6,.0f} B"
        f" ({(after.wal_records - before.wal_records) / per:.1f} records);"
        f" tuples inserted {(after.inserted - before.inserted) / per:.2f},"
        f" updated {updated / per:.2f} ({(after.hot - before.hot) / max(updated, 1):.0%} HOT);"
        f" indexes +{(after.indexes - before.indexes) / per:,.0f} B,"
        f" heap +{(after.heap - before.heap) / per:,.0f} B per delivery"
    )


# pg_waldump --stats=record: kind, N (%), record size (%), FPI size (%), combined size (%)
_PERCENT = r"\s+\(\s*[\d.]+\)\s+"
_WALDUMP_LINE = re.compile(
    rf"^(\S+/\S+)\s+(\d+){_PERCENT}\d+{_PERCENT}\d+{_PERCENT}(\d+)", re.MULTILINE
)


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def wal_kinds(wal_dir: str, before: State, after: State, deliveries: int, top: int = 12) -> None:
    """The phase's WAL records by kind, per delivery: count and bytes (full pages included)."""
    waldump = shutil.which("pg_waldump") or "/usr/lib/postgresql/15/bin/pg_waldump"
    span = ["-s", lsn_text(before.lsn), "-e", lsn_text(after.lsn)]
    out = subprocess.run(
        [waldump, "--stats=record", "-p", wal_dir, *span],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    kinds = [
        (m[1], int(m[2]), int(m[3]))  # kind, records, combined size (full pages included)
        for m in _WALDUMP_LINE.finditer(out)
    ]
    per = max(deliveries, 1)
    for name, count, size in sorted(kinds, key=lambda k: -k[2])[:top]:
        print(f"    {name:<32} {count / per:>6.2f} records {size / per:>6,.0f} B per delivery")


def _publisher(url: str, orders: int, tasks: int, out: Any) -> None:
    async def main() -> None:
        db = open_database(url)
        await db.open()
        repository = OrderRepository(db)
        left = [orders]

        async def loop() -> None:
            while left[0] > 0:
                left[0] -= 1
                order_id, *_ = await create_order(repository)
                await change_order(repository, order_id, OrderStatus.PROCESSING)
                await change_order(repository, order_id, OrderStatus.COMPLETED)

        await asyncio.gather(*(loop() for _ in range(tasks)))
        out.put(repository.transactions)
        await db.close()

    uvloop.run(main())


async def publish(url: str, args: argparse.Namespace) -> int:
    """The publishers' transactions."""
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    share = args.orders // args.processes
    processes = [
        spawn.Process(target=_publisher, args=(url, share, args.tasks, out))
        for _ in range(args.processes)
    ]
    for process in processes:
        process.start()
    transactions = [await asyncio.to_thread(out.get) for _ in processes]
    for process in processes:
        process.join()
    return sum(transactions)


async def statements(admin_url: str, name: str, deliveries: int, top: int) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        rows = await admin.fetch(_STATEMENTS, name)
    except asyncpg.PostgresError as exc:
        print(f"  (no pg_stat_statements: {exc.__class__.__name__})")
        return
    finally:
        await admin.close()
    per = max(deliveries, 1)
    print(f"  {'executions':>10} {'rows':>6} {'ms':>7} {'plans':>6} {'buffers':>7} {'WAL B':>6}")
    for row in sorted(rows, key=lambda r: -r["blocks"])[:top]:
        print(
            f"  {row['calls'] / per:>10.3f} {row['rows'] / max(row['calls'], 1):>6.1f}"
            f" {row['time']:>7,.0f} {row['plans']:>6,} {row['blocks'] / per:>7.1f}"
            f" {row['wal_bytes'] / per:>6,.0f}  {' '.join(row['query'].split())[:90]}"
        )


async def one_round(args: argparse.Namespace) -> None:
    async with fresh_database_url("postgresql", args.postgres_url) as (url, _):
        name = url.rsplit("/", 1)[1]
        db = open_database(url)
        await db.open()
        try:
            await migrate(db)
            box = SecretBox(b"\x07" * 32)
            await make_history(db, box, args.history)
            for sql in args.sql:
                async with db.connection() as conn:
                    await conn.execute(sql)
            await make_endpoint(EndpointRepository(db, box), "http://x/", 256)
            admin = await asyncpg.connect(args.postgres_url)
            try:
                await admin.execute(
                    "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database"
                    f" WHERE datname = '{name}'"
                )
            except asyncpg.PostgresError:
                pass
            finally:
                await admin.close()
            start = await state(db)
            cpu = PostgresCpu(db)
            await cpu.start()
            transactions = await publish(url, args)
            published_cpu = await cpu.stop()
            queued = await state(db)
            deliverer = Deliverer(db, args.claim)
            cpu = PostgresCpu(db)
            await cpu.start()
            started = time.perf_counter()
            deliveries = await deliverer.drain()
            elapsed = time.perf_counter() - started
            delivered_cpu = await cpu.stop()
            delivered = await state(db)
            per = max(deliveries, 1)
            print(
                f"{deliveries:,} deliveries ({args.orders:,} orders,"
                f" {args.orders * 3 / max(transactions, 1):.1f} calls per publishing"
                f" transaction; {deliverer.transactions // 2:,} claims in {elapsed:.1f} s);"
                f" PostgreSQL CPU {(published_cpu + delivered_cpu) / per * 1e6:,.0f} us,"
                f" WAL {(delivered.lsn - start.lsn) / per:,.0f} B per delivery",
                flush=True,
            )
            print(phase_line("publish", published_cpu, start, queued, deliveries))
            print(phase_line("deliver", delivered_cpu, queued, delivered, deliveries), flush=True)
            if args.waldump:
                phases = (("publish", start, queued), ("deliver", queued, delivered))
                for phase, before, after in phases:
                    print(f"  {phase} WAL by kind:")
                    wal_kinds(args.waldump, before, after, deliveries)
            if args.statements:
                await statements(args.postgres_url, name, deliveries, args.statements)
        finally:
            await db.close()


async def run(args: argparse.Namespace) -> None:
    for _ in range(args.rounds):
        await one_round(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument("--orders", type=int, default=1_000)
    parser.add_argument("--history", type=int, default=2_000, help="delivered orders before")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=8, help="publish loops per process")
    parser.add_argument("--claim", type=int, default=24, help="deliveries per claim")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--statements", type=int, default=0, help="the top N statements")
    parser.add_argument(
        "--sql", action="append", default=[], help="run after the history (an A/B of a schema)"
    )
    parser.add_argument("--waldump", metavar="PG_WAL", help="WAL records by kind (a local server)")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
