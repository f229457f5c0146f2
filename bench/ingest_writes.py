"""Ingest without HTTP, on PostgreSQL: CPU of this process and of PostgreSQL per verified request
through ``Ingestor.receive`` (the source's dialect verifies and decodes the raw request, then the
group commit folds it into its order and writes it), so a change to that path is measured
without the HTTP server, the load generator and their share of a loaded machine.

    .venv/bin/python bench/ingest_writes.py [--requests N] [--tasks 1,64] [--rounds R]

A fresh database ``rampwire_bench_<random>`` (dropped at the end) gets a Transak and a Revolut
source; the requests are ``bench/ingest.py``'s (pre-signed before the clock starts, each a new
order at processing, half Transak JWTs, half Revolut HMACs). For each number of concurrent
callers and each round, ``--requests`` new requests are received by ``tasks`` callers at once;
printed per request: wall time, this process's CPU, the PostgreSQL backends' CPU, and requests
per transaction; between rounds, tables that grew are analyzed, as the server's statistics
task does. The best round of each shape is printed last (the least disturbed). To compare
two versions of rampwire, run this with ``PYTHONPATH`` set to each one's ``src`` in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import uvloop
from harness.cpu import PostgresCpu
from harness.databases import PG_ADMIN_URL, fresh_database
from ingest import bench_sources, presign

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.ingest.inbound import InboundRequest
from rampwire.repository import OrderRepository
from rampwire.repository.inbound import InboundRepository
from rampwire.repository.sources import SourceRepository
from rampwire.services.ingestor import Ingestor
from rampwire.storage.postgres import PostgresDatabase
from rampwire.types import utcnow

DEADLINE_S = 120.0  # no measured loop runs longer than this


@dataclass(frozen=True)
class Cost:
    tasks: int
    requests: int
    transactions: int
    wall: float
    own: float
    postgres: float

    def line(self) -> str:
        per = 1e6 / max(self.requests, 1)
        return (
            f"{self.tasks:>5} tasks  {self.requests / self.wall:>7,.0f} requests/s"
            f"  wall {self.wall * per:>6,.0f} us  client CPU {self.own * per:>5,.0f} us"
            f"  PostgreSQL CPU {self.postgres * per:>5,.0f} us"
            f"  requests/transaction {self.requests / max(self.transactions, 1):>5.1f}"
        )


async def run(args: argparse.Namespace) -> None:
    async with fresh_database("postgresql", args.postgres_url) as db:
        if not isinstance(db, PostgresDatabase):
            raise RuntimeError("PostgreSQL only")
        box = SecretBox(b"\x07" * 32)
        sources = SourceRepository(db, box)
        ids = await bench_sources(sources)
        inbound = InboundRepository(db, OrderRepository(db))
        ingestor = Ingestor(sources, inbound)
        total = args.requests * args.rounds * len(args.tasks)
        signed = presign(total, ids)
        best: dict[int, Cost] = {}
        with heap.settled():
            for _ in range(args.rounds):
                for tasks in args.tasks:
                    batch, signed = signed[: args.requests], signed[args.requests :]
                    cost = await measure(db, ingestor, inbound, batch, tasks)
                    print(cost.line(), flush=True)
                    await db.analyze_new_tables()  # as the server's statistics task does
                    if tasks not in best or cost.own + cost.postgres < (
                        best[tasks].own + best[tasks].postgres
                    ):
                        best[tasks] = cost
        ingestor.close()
        print("best round of each:")
        for tasks in args.tasks:
            print(best[tasks].line())


async def measure(
    db: PostgresDatabase,
    ingestor: Ingestor,
    inbound: InboundRepository,
    requests: list[tuple[str, dict[str, str], bytes]],
    tasks: int,
) -> Cost:
    queue = list(reversed(requests))

    async def loop() -> int:
        done = 0
        deadline = time.monotonic() + DEADLINE_S
        while queue:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(queue)} requests left after {DEADLINE_S:.0f} s")
            path, headers, body = queue.pop()
            received = utcnow()
            request = InboundRequest(
                headers={**headers, "content-type": "application/json"},
                body=body,
                received_at=received,
                peer_ip="127.0.0.1",
            )
            result = await ingestor.receive(path.rsplit("/", 1)[1], request, now=received)
            if result.record is None or result.record.outcome.value != "applied":
                raise RuntimeError(f"not applied: {result}")
            done += 1
        return done

    transactions = inbound._commits.transactions
    pg = PostgresCpu(db)
    await pg.start()
    own, wall = time.process_time(), time.perf_counter()
    done = sum(await asyncio.gather(*(loop() for _ in range(tasks))))
    wall, own = time.perf_counter() - wall, time.process_time() - own
    return Cost(
        tasks=tasks,
        requests=done,
        transactions=inbound._commits.transactions - transactions,
        wall=wall,
        own=own,
        postgres=await pg.stop(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument("--requests", type=int, default=3000, help="per round and shape")
    parser.add_argument("--tasks", default="1,64", help="concurrent callers, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.tasks = [int(t) for t in args.tasks.split(",")]
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
