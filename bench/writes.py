"""The database cost of the engine's writes on PostgreSQL: CPU of this process and of
PostgreSQL per API create, per API change, and per delivery for a worker's claim and record.

    .venv/bin/python bench/writes.py [--postgres-url URL] [--calls N] [--history N]
                                     [--tasks 1,64] [--rounds R] [--keys]
                                     [--profile PATH] [--instructions]

A fresh database ``rampwire_bench_<random>`` (dropped at the end) gets ``--history`` delivered
orders and ``ANALYZE`` (``harness.workload.make_history``), then one subscribed
endpoint. Then, for each number of concurrent callers and each of ``--rounds`` rounds: ``--calls``
creates through ``OrderRepository.create`` (``--keys``: each with an Idempotency-Key, as the SDK
sends), then one change of each of those orders through
``OrderRepository.change`` (``awaiting_payment`` → ``processing``): the API's code path
without HTTP, each write with its timeline entry, its event and one delivery. Printed per
call: wall time, this process's CPU and the CPU of the PostgreSQL backends serving the
database (read from /proc), and the calls per transaction. Then ``deliver``: the deliveries
those writes queued are claimed through ``DeliveryRepository.claim`` (``--claim`` at a time,
the worker's batch size under load) and recorded as successful attempts, with the headers a
real send logs, through ``DeliveryRepository.record``: a worker's storage work per delivery,
without HTTP; then how many of deliveries' updates PostgreSQL wrote heap-only (HOT: no index
entry) and how much its indexes and table grew per delivery, queueing and delivering. The best
round of each shape is printed last (the least disturbed by the machine).

``--profile PATH``: cProfile on while each shape's calls run, saved to ``PATH.<shape>.<tasks>``,
with the Python function calls per call printed (exact, whatever the load). ``--instructions``:
the script again under valgrind's callgrind, two rounds of the first ``--tasks`` value, this
process's instructions per call of each shape counted in the second (PostgreSQL not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop
from harness.cpu import PostgresCpu
from harness.databases import PG_ADMIN_URL, fresh_database
from harness.workload import Deliverer, create_order, make_endpoint, make_history, order_data

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import OrderStatus
from rampwire.ids import new_id
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.orders import IdempotencyClaim
from rampwire.storage import Database
from rampwire.types import utcnow

DEADLINE_S = 120.0  # no measured loop runs longer than this


@dataclass(frozen=True)
class Cost:
    shape: str
    tasks: int
    calls: int
    transactions: int
    wall: float
    own: float
    postgres: float

    def line(self) -> str:
        per = 1e6 / max(self.calls, 1)
        return (
            f"{self.shape:<7} {self.tasks:>5} tasks  {self.calls / self.wall:>7,.0f} calls/s"
            f"  wall {self.wall * per:>6,.0f} us  client CPU {self.own * per:>5,.0f} us"
            f"  PostgreSQL CPU {self.postgres * per:>5,.0f} us"
            f"  calls/transaction {self.calls / max(self.transactions, 1):>5.1f}"
        )


# deliveries' updates, the heap-only ones, its indexes' and its table's bytes
_DELIVERIES = (
    "SELECT n_tup_upd, n_tup_hot_upd, (SELECT sum(pg_relation_size(indexrelid)) FROM pg_index"
    " WHERE indrelid = 'deliveries'::regclass), pg_relation_size('deliveries')"
    " FROM pg_stat_user_tables WHERE relname = 'deliveries'"
)
STATISTICS_S = 11.0  # an idle backend reports its table statistics within 10 s (PostgreSQL 15)


async def deliveries_state(db: Database) -> tuple[int, ...]:
    await asyncio.sleep(STATISTICS_S)
    async with db.connection() as conn:
        row = await conn.fetchrow(_DELIVERIES)
    assert row is not None
    return tuple(int(value) for value in row)


def writes_line(before: tuple[int, ...], after: tuple[int, ...], deliveries: int, what: str) -> str:
    updates, hot, index, table = (b - a for a, b in zip(before, after, strict=True))
    per = max(deliveries, 1)
    return (
        f"  {what:<9} deliveries: {updates / per:.2f} updates per delivery, heap-only (HOT)"
        f" {hot / max(updates, 1):.0%}; indexes grew {index / per:,.0f} B and the table"
        f" {table / per:,.0f} B per delivery"
    )


async def measure(
    db: Database,
    shape: str,
    tasks: int,
    work: Callable[[], Awaitable[int]],
    count_transactions: Callable[[], int],
    profile: cProfile.Profile | None = None,
    counted: bool = False,
) -> Cost:
    """``work`` run ``tasks`` times at once; each run returns the calls it made. ``profile``:
    cProfile on meanwhile (its overhead is in the client CPU printed); ``counted``: callgrind's
    instrumentation on meanwhile, then its counts dumped (``--instructions``)."""
    transactions = count_transactions()
    pg = PostgresCpu(db)
    await pg.start()
    if profile is not None:
        profile.enable()
    if counted:
        _callgrind("-i", "on")
    own, wall = time.process_time(), time.perf_counter()
    calls = sum(await asyncio.gather(*(work() for _ in range(tasks))))
    wall, own = time.perf_counter() - wall, time.process_time() - own
    if counted:
        _callgrind("-i", "off")
        _callgrind(f"--dump={shape}")
        print(f"counted {shape} {calls} {count_transactions() - transactions}", flush=True)
    if profile is not None:
        profile.disable()
    return Cost(
        shape=shape,
        tasks=tasks,
        calls=calls,
        transactions=count_transactions() - transactions,
        wall=wall,
        own=own,
        postgres=await pg.stop(),
    )


def _callgrind(*command: str) -> None:
    """A command to the callgrind this process runs under; returns once it is done."""
    subprocess.run(
        ["callgrind_control", *command, str(os.getpid())],
        check=True,
        capture_output=True,
        timeout=60,
    )


def instructions(argv: list[str]) -> None:
    """``--instructions``: this script again under callgrind (``--counted``), two rounds of the
    first ``--tasks`` value, instrumentation on only while each shape's calls of the second run
    (the first warms up: statements prepared, types introspected); prints the
    client's instructions per call of each (all threads; PostgreSQL's backends not counted).
    Other load does not move the count; batching follows the clock (the calls per transaction
    are printed: compare runs that batch alike)."""
    with tempfile.TemporaryDirectory(prefix="writes-callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            *[a for a in argv if a != "--instructions"],
            "--counted",
        ]
        child = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True)
        counted = re.findall(r"^counted (\w+) (\d+) (\d+)$", child.stdout, re.M)
        for n, (shape, calls, transactions) in enumerate(counted, start=1):
            text = Path(f"{out}.{n}").read_text(errors="replace")
            found = re.search(r"^totals: (\d+)", text, re.M)
            assert found is not None, f"no totals in {out}.{n}"
            print(
                f"{shape:<7} {int(found.group(1)) / int(calls):>12,.0f} instructions per call"
                f"  ({calls} calls, {int(calls) / max(int(transactions), 1):.1f} per transaction)"
            )


def each(items: list[str], call: Callable[[str], Awaitable[None]]) -> Callable[[], Awaitable[int]]:
    """A loop calling ``call`` on the next of ``items`` (shared by every loop) until none is
    left; returns how many it took."""
    queue = list(reversed(items))

    async def loop() -> int:
        done = 0
        deadline = time.monotonic() + DEADLINE_S
        while queue:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(queue)} calls left after {DEADLINE_S:.0f} s")
            await call(queue.pop())
            done += 1
        return done

    return loop


async def run(args: argparse.Namespace) -> None:
    async with fresh_database("postgresql", args.postgres_url) as db:
        box = SecretBox(b"\x07" * 32)
        await make_history(db, box, args.history)
        await make_endpoint(EndpointRepository(db, box), "http://127.0.0.1:9/hook", 256)
        orders = OrderRepository(db)
        deliverer = Deliverer(db, args.claim)
        made: list[str] = []

        async def create(_: str) -> None:
            if not args.keys:
                made.append((await create_order(orders))[0])
                return
            now = utcnow()
            key = new_id("idem")  # as the SDK sends with every create
            claim = IdempotencyClaim(api_key_id="key_bench", key=key, request_hash=key)
            result = await orders.create(
                order_data(),
                status=OrderStatus.AWAITING_PAYMENT,
                occurred_at=now,
                source=Source(provider=None, provider_event="api", received_at=now),
                now=now,
                idempotency=claim,
            )
            made.append(result.order.id)

        async def change(order_id: str) -> None:
            now = utcnow()
            await orders.change(
                order_id,
                Change(occurred_at=now, status=OrderStatus.PROCESSING),
                source=Source(provider=None, provider_event="api", received_at=now),
                strict=True,
                now=now,
            )

        def writes() -> int:
            return orders.transactions

        def worker() -> int:
            return deliverer.transactions

        best: dict[tuple[str, int], Cost] = {}
        profiles = {
            (shape, tasks): cProfile.Profile()
            for shape in ("create", "change", "deliver")
            for tasks in args.tasks
            if args.profile
        }
        calls: dict[tuple[str, int], int] = {}
        for tasks in args.tasks:
            for round_ in range(args.rounds):
                counted = args.counted and round_ == 1  # the first round warms up
                made = []
                start = await deliveries_state(db)
                costs = [
                    await measure(
                        db,
                        "create",
                        tasks,
                        each([""] * args.calls, create),
                        writes,
                        profiles.get(("create", tasks)),
                        counted,
                    ),
                    await measure(
                        db,
                        "change",
                        tasks,
                        each(made, change),
                        writes,
                        profiles.get(("change", tasks)),
                        counted,
                    ),
                ]
                queued = await deliveries_state(db)
                costs.append(
                    await measure(
                        db,
                        "deliver",
                        1,
                        deliverer.drain,
                        worker,
                        profiles.get(("deliver", tasks)),
                        counted,
                    )
                )
                delivered = await deliveries_state(db)
                for cost in costs:
                    print(cost.line(), flush=True)
                    calls[(cost.shape, tasks)] = calls.get((cost.shape, tasks), 0) + cost.calls
                    key = (cost.shape, tasks)
                    if key not in best or cost.postgres + cost.own < (
                        best[key].postgres + best[key].own
                    ):
                        best[key] = cost
                print(writes_line(start, queued, costs[-1].calls, "queued"))
                print(writes_line(queued, delivered, costs[-1].calls, "delivered"), flush=True)
        print("best round of each (least client + PostgreSQL CPU):")
        for cost in best.values():
            print(cost.line())
        for (shape, tasks), profile in profiles.items():
            path = f"{args.profile}.{shape}.{tasks}"
            profile.dump_stats(path)
            stats = pstats.Stats(path)
            per = stats.total_calls / max(calls.get((shape, tasks), 0), 1)  # type: ignore[attr-defined]
            print(
                f"profile {shape} {tasks} tasks: {per:,.0f} Python function calls per call ({path})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--claim", type=int, default=64, help="deliveries per claim")
    parser.add_argument("--tasks", type=lambda s: [int(n) for n in s.split(",")], default=[1, 64])
    parser.add_argument(
        "--keys", action="store_true", help="each create with an Idempotency-Key, as the SDK sends"
    )
    parser.add_argument(
        "--profile",
        default="",
        help="cProfile each shape into PATH.<shape>.<tasks> and print its function calls per call",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the client's instructions per call under callgrind (one round, first --tasks)",
    )
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        instructions(sys.argv[1:])
        return
    if args.counted:
        args.rounds, args.tasks = 2, args.tasks[:1]
    with heap.settled():
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
