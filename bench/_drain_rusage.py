"""A fresh worker's drain at full speed, 1 partner against N, alternating: this process's user
and system CPU, minor page faults, context switches and the collector's passes per delivery
(``getrusage``, ``gc.get_stats``), the figures that callgrind's instruction counts leave out. A
diagnosis, not a benchmark (``make bench`` skips ``_`` scripts).

    cd bench && ../.venv/bin/python _drain_rusage.py --backend postgresql --partners 1000 \
        --events 15000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import time

import uvloop
from delivery import worker_running
from harness.tenants import (
    alternating_tenants,
    bench_on,
    count_succeeded_since,
    queue_partner_orders,
)

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.repository import OrderRepository
from rampwire.storage import Database
from rampwire.storage.database import to_us
from rampwire.types import utcnow

CONCURRENCY = 256  # as delivery.py's partners phase


def _snapshot() -> tuple[resource.struct_rusage, list[int], float]:
    passes = [generation["collections"] for generation in gc.get_stats()]
    return resource.getrusage(resource.RUSAGE_SELF), passes, time.perf_counter()


async def drain(db: Database, box: SecretBox, partners: list[str], events: int) -> str:
    since = to_us(utcnow())
    orders = events // 3
    await queue_partner_orders(OrderRepository(db), partners, orders)
    before, gcs, started = _snapshot()
    async with worker_running(db, box, CONCURRENCY) as worker:
        while worker.sent < orders * 3:
            await asyncio.sleep(0.01)
        while await count_succeeded_since(db, since) < orders * 3:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        after, gcs_after, _ = _snapshot()
        claims = worker.claims
    n = orders * 3
    per = 1e6 / n
    return (
        f"{n / elapsed:7,.0f}/s user {(after.ru_utime - before.ru_utime) * per:5.1f} us"
        f" sys {(after.ru_stime - before.ru_stime) * per:5.1f} us"
        f" minflt {(after.ru_minflt - before.ru_minflt) * 1000 / n:6.1f}/1000"
        f" vcsw {(after.ru_nvcsw - before.ru_nvcsw) * 1000 / n:6.1f}/1000"
        f" ivcsw {(after.ru_nivcsw - before.ru_nivcsw) * 1000 / n:5.1f}/1000"
        f" gc {[b - a for a, b in zip(gcs, gcs_after, strict=True)]} claims {claims}"
        f" maxrss {after.ru_maxrss / 1024:.0f} MiB"
    )


async def main(args: argparse.Namespace) -> None:
    async with bench_on(args.backend) as on:
        async for round_, count, partners in alternating_tenants(
            on.db, on.endpoints, on.url, args.partners, args.rounds, 256
        ):
            line = await drain(on.db, on.box, partners, args.events)
            print(f"{count:>5} partners, round {round_}: {line}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--events", type=int, default=15_000, help="deliveries drained")
    parser.add_argument("--rounds", type=int, default=3)
    with heap.settled():
        uvloop.run(main(parser.parse_args()))
