"""What publishing writes on SQLite, 1 partner against N, counted rather than timed: the WAL
frames per delivery by b-tree, and the process's I/O system calls and bytes per delivery. A
diagnosis, not a benchmark (``make bench`` skips ``_`` scripts); the figures do not depend on the
machine's other load.

    cd bench && ../.venv/bin/python _wal_partners.py --partners 1000 --prefill 10000 --orders 2000

For each partner count, a fresh database gets the partners phase's tenants (two endpoints per
partner, one all-partners operator endpoint), then ``--prefill`` orders are published as the
sustained phase's flood publisher does (create and two changes, eight callers, group-committed;
nine deliveries an order) and their deliveries marked succeeded in one statement, as a drain would
leave them (the indexes have grown as after the bench's earlier rounds). Then ``--orders`` more are
published and counted: with ``--frames`` automatic checkpoints are off and each frame of the WAL
is mapped to its b-tree (``dbstat``); without, the I/O of publishing with the database's own
checkpoints (``/proc/self/io``) and the process's user and kernel CPU (``getrusage``, all its
threads; CPU is load-sensitive, the calls are not). Under callgrind, only the counted publishing
is instrumented (PROGRAM TOTALS / the deliveries printed = instructions per delivery published)::

    cd bench && valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=<out> \\
        ../.venv/bin/python _wal_partners.py --partners 1000 --only 1000 --prefill 10000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import resource
import secrets
import struct
import subprocess
import time
from pathlib import Path

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

TASKS = 8  # the flood publisher's callers (delivery.py --publish-tasks)
WAL_HEADER, FRAME_HEADER = 32, 24  # bytes


def instrument(on: bool) -> None:
    """Switch callgrind's counting for this process (nothing without valgrind)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=False,
        capture_output=True,
    )


async def flood(orders: OrderRepository, partners: list[str], count: int) -> None:
    """``count`` orders, each created and changed twice, round-robin over ``partners``."""
    owners, left = itertools.cycle(partners), count

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            order_id, *_ = await create_order(orders, next(owners))
            for status in (OrderStatus.PROCESSING, OrderStatus.COMPLETED):
                await change_order(orders, order_id, status)

    await asyncio.gather(*(loop() for _ in range(TASKS)))


def io() -> dict[str, int]:
    """The process's I/O calls and bytes so far, and its CPU in user and kernel mode (µs)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {name: int(fields[name]) for name in ("syscr", "syscw", "rchar", "wchar")} | {
        "user": int(usage.ru_utime * 1e6),
        "sys": int(usage.ru_stime * 1e6),
    }


async def writer_sql(db: Database, sql: str) -> list[tuple[object, ...]]:
    """``sql`` on the writer connection, outside any transaction (a PRAGMA, dbstat)."""
    conn = db._writer  # type: ignore[attr-defined]
    return [tuple(row) for row in await conn.execute_fetchall(sql)]


def wal_pages(path: str) -> list[int]:
    """The page number of each frame in the WAL file."""
    data = Path(f"{path}-wal").read_bytes()
    if len(data) < WAL_HEADER:
        return []
    page_size = struct.unpack(">I", data[8:12])[0]
    frame = FRAME_HEADER + page_size
    return [
        struct.unpack(">I", data[at : at + 4])[0]
        for at in range(WAL_HEADER, len(data) - frame + 1, frame)
    ]


async def run(args: argparse.Namespace, count: int) -> None:
    async with fresh_database("sqlite", PG_ADMIN_URL) as db:
        for pragma in args.pragma:
            await writer_sql(db, f"PRAGMA {pragma}")
        box = SecretBox(secrets.token_bytes(32))
        partners, _ = await make_tenants(
            db, EndpointRepository(db, box), "http://127.0.0.1:9/", count, 256
        )
        orders = OrderRepository(db)
        started = time.perf_counter()
        await flood(orders, partners, args.prefill)
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'succeeded', attempts = 1, next_attempt_at = NULL"
            )
        await writer_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)")
        if args.frames:
            await writer_sql(db, "PRAGMA wal_autocheckpoint = 0")
        prefilled = time.perf_counter() - started
        before = io()
        instrument(True)
        await flood(orders, partners, args.orders)
        instrument(False)
        after = io()
        async with db.connection() as conn:
            deliveries = int(
                await conn.fetchval("SELECT count(*) FROM deliveries WHERE next_attempt_at > 0")
            )
        per = {name: (after[name] - before[name]) / deliveries for name in after}
        print(
            f"{count:,} partners: {deliveries:,} deliveries published after {args.prefill:,}"
            f" orders ({prefilled:.0f} s); per delivery {per['syscw']:.2f} writes,"
            f" {per['wchar'] / 1024:.2f} KiB written, {per['syscr']:.2f} reads,"
            f" {per['rchar'] / 1024:.2f} KiB read; CPU {per['user']:.1f} µs user,"
            f" {per['sys']:.1f} µs kernel",
            flush=True,
        )
        if args.frames:
            pages = wal_pages(db.path)  # type: ignore[attr-defined]
            owner = dict(
                (int(pageno), str(name))  # type: ignore[call-overload]
                for name, pageno in await writer_sql(db, "SELECT name, pageno FROM dbstat")
            )
            frames = collections.Counter(owner.get(p, "(free)") for p in pages)
            distinct = collections.Counter(owner.get(p, "(free)") for p in set(pages))
            print(f"  WAL frames per delivery {len(pages) / deliveries:.3f}; by b-tree:")
            for name, n in frames.most_common(args.top):
                print(f"    {name:32s} {n / deliveries:.3f} ({distinct[name]:,} distinct pages)")
            started = time.perf_counter()
            io_before = io()
            (_busy, log, copied), *_ = await writer_sql(db, "PRAGMA wal_checkpoint(PASSIVE)")
            took, io_after = time.perf_counter() - started, io()
            print(  # it writes each distinct page once: its write calls count them
                f"  checkpoint of those {log:,} frames ({copied:,} checkpointed): {took * 1e3:.0f}"
                f" ms, {(io_after['syscw'] - io_before['syscw']) / deliveries:.2f} write calls"
                " per delivery"
            )


async def main(args: argparse.Namespace) -> None:
    for count in [args.only] if args.only else sorted({1, args.partners}):
        await run(args, count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--prefill", type=int, default=10_000, help="orders published before")
    parser.add_argument("--orders", type=int, default=2_000, help="orders published, counted")
    parser.add_argument("--frames", action="store_true", help="WAL frames by b-tree")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--only", type=int, default=0, help="this partner count only")
    parser.add_argument(
        "--pragma", action="append", default=[], help="on the writer, e.g. cache_size=-65536"
    )
    with heap.settled():
        uvloop.run(main(parser.parse_args()))
