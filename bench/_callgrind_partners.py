"""Instructions of a worker's drain over N partners, counted by callgrind: the figure of
docs/benchmarks.md's "Partners at the instruction level". A diagnosis, not a benchmark (``make
bench`` skips ``_`` scripts). Run it under valgrind, once per partner count:

    cd bench && valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.1000.out ../.venv/bin/python _callgrind_partners.py \\
        --partners 1000 --events 15000
    callgrind_annotate /tmp/cg.1000.out | head     # PROGRAM TOTALS / events = per delivery

``--reads-only`` counts instead a fresh worker's endpoint cache reading every endpoint once, in
batches of ``--batch`` (a claim's share), as the drain's first minute does: PROGRAM TOTALS / the
endpoints printed = instructions per endpoint read. ``--warm``: the drain's worker has read every
endpoint before the count starts (a worker that has run a while), so the count holds no reads.

The tenants (N partners with two endpoints each, one all-partners operator endpoint) and the
queued orders are made with instrumentation off; it is switched on (``callgrind_control -i
on``) when a fresh ``Worker`` starts and off once every delivery is recorded. The worker's
timeouts and lease are long enough that the 50x slower process makes no failed attempt and no
renewal, and the database's timeouts are raised likewise (a connection that took more than 5 s
under valgrind on a loaded machine failed the run). The process waits for the worker's own count
of attempts before it polls the database for the recorded ones, so the count holds little of the
polling whatever the drain's length under valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from datetime import timedelta

import uvloop
from harness.tenants import (
    bench_on,
    count_succeeded_since,
    make_tenants,
    queue_partner_orders,
)

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.errors import StorageError
from rampwire.metrics import Metrics
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.services.targets import Targets
from rampwire.services.worker import Worker, WorkerOptions
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database, postgres
from rampwire.storage.database import to_us
from rampwire.types import utcnow

CONCURRENCY = 256  # as delivery.py's partners phase
SLOW_TIMEOUT_S = 600.0  # the database's timeouts, for a process 50x slower


def slow_worker(db: Database, box: SecretBox) -> Worker:
    """A worker whose timeouts and lease outlast a process 50x slower (valgrind's)."""
    options = WorkerOptions(
        concurrency=CONCURRENCY,
        connect_timeout_s=300,
        total_timeout_s=600,
        lease=timedelta(minutes=30),
    )
    return Worker(
        db,
        box,
        policy=TargetPolicy(allow_private=True),
        options=options,
        metrics=Metrics(enabled=True),
    )


def instrument(on: bool) -> None:
    """Switch callgrind's counting for this process (nothing without valgrind)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=False,
        capture_output=True,
    )


async def read_all(
    db: Database, box: SecretBox, endpoints: EndpointRepository, ids: list[str], batch: int
) -> None:
    """A fresh endpoint cache reads every endpoint once, ``batch`` at a time, counted."""
    versions = {i: to_us(e.updated_at) for i, e in (await endpoints.get_many(ids)).items()}
    await warm(targets := Targets(db, box), versions, ids, batch, counted=True)
    targets.close()


async def warm(
    targets: Targets, versions: dict[str, int], ids: list[str], batch: int, *, counted: bool
) -> None:
    """``targets`` reads the endpoints of ``ids`` (at ``versions``), ``batch`` at a time."""
    if counted:
        instrument(True)
    started = time.perf_counter()
    for first in range(0, len(ids), batch):
        chunk = ids[first : first + batch]
        targets.prefetch({i: versions[i] for i in chunk})
        for i in chunk:
            await targets.get(i, versions[i])
    if counted:
        instrument(False)
    print(f"{len(ids)} endpoints read, {time.perf_counter() - started:.1f} s", flush=True)


async def main(args: argparse.Namespace) -> None:
    async with bench_on(args.backend) as on:
        db, box, endpoints = on.db, on.box, on.endpoints
        partners, made = await make_tenants(db, endpoints, on.url, args.partners, 256)
        if args.reads_only:
            await read_all(db, box, endpoints, made, args.batch)
            return
        orders = args.events // 3
        since = to_us(utcnow())
        await queue_partner_orders(OrderRepository(db), partners, orders)
        worker = slow_worker(db, box)
        if args.warm:
            found = await endpoints.get_many(made)
            versions = {i: to_us(e.updated_at) for i, e in found.items()}
            await warm(worker._targets, versions, made, args.batch, counted=False)
        stop = asyncio.Event()
        instrument(True)
        started = time.perf_counter()
        task = asyncio.ensure_future(worker.run(stop))
        while worker.sent < orders * 3:
            await asyncio.sleep(0.05)
        while True:
            try:
                if await count_succeeded_since(db, since) >= orders * 3:
                    break
            except StorageError as exc:
                print(f"counting: {exc}", flush=True)
            await asyncio.sleep(0.05)
        stop.set()
        await task
        instrument(False)
        print(
            f"{args.partners} partners: {worker.sent} sent, {worker.claims} claims,"
            f" {worker.record_batches} record transactions,"
            f" {time.perf_counter() - started:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    postgres.CONNECT_TIMEOUT_S = postgres.COMMAND_TIMEOUT_S = SLOW_TIMEOUT_S
    postgres.LISTEN_PING_S = SLOW_TIMEOUT_S
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--events", type=int, default=15_000, help="deliveries drained")
    parser.add_argument("--reads-only", action="store_true", help="count endpoint reads only")
    parser.add_argument("--warm", action="store_true", help="every endpoint read beforehand")
    parser.add_argument("--batch", type=int, default=170, help="--reads-only: ids per read")
    with heap.settled():
        uvloop.run(main(parser.parse_args()))
