"""The statements and round trips of one API create and one API change on PostgreSQL, as the
client sends them (asyncpg's query logger on the pool's one connection):

    .venv/bin/python bench/statements.py [--postgres-url URL] [--calls N]

A fresh database (dropped at the end) with one subscribed endpoint; ``--calls`` orders created
one at a time through ``OrderRepository.create``, then each changed once through
``OrderRepository.change``, one caller, so each call is a transaction of its own. Printed per
call: each statement (its first 110 characters), how many times per call it ran, and its mean
wall time as the client saw it (local socket: about the server's time for it). BEGIN and COMMIT
are round trips like any other. pg_stat_statements is not used: it needs
``shared_preload_libraries`` and a server restart, which a shared machine cannot take.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

import uvloop
from harness.databases import PG_ADMIN_URL, fresh_database_url
from harness.workload import change_order, create_order, make_endpoint

from rampwire.crypto import SecretBox
from rampwire.domain.orders import OrderStatus
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.storage import migrate
from rampwire.storage.postgres import PostgresDatabase


class Statements:
    """asyncpg's query logger: per statement text, how many times and how long in all."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = defaultdict(list)

    def __call__(self, record: Any) -> None:
        self.seen[" ".join(record.query.split())].append(record.elapsed)

    def report(self, what: str, calls: int) -> None:
        trips = sum(len(times) for times in self.seen.values())
        total = sum(sum(times) for times in self.seen.values())
        print(f"\n{what}: {trips / calls:.1f} round trips per call, {total / calls * 1e6:,.0f} us")
        for query, times in sorted(self.seen.items(), key=lambda item: -sum(item[1])):
            mean = sum(times) / len(times) * 1e6
            print(f"  {len(times) / calls:4.1f} x {mean:6,.0f} us  {query[:110]}")
        self.seen.clear()


async def run(admin_url: str, calls: int) -> None:
    async with fresh_database_url("postgresql", admin_url) as (url, _):
        db = PostgresDatabase(url, max_size=1)  # one connection: every statement logged
        await db.open()
        try:
            await migrate(db)
            box = SecretBox(b"\x07" * 32)
            await make_endpoint(EndpointRepository(db, box), "http://127.0.0.1:9/hook", 256)
            orders = OrderRepository(db, writers=1)
            for _ in range(20):  # prepared statements and caches warm
                order_id = (await create_order(orders))[0]
                await change_order(orders, order_id, OrderStatus.PROCESSING)
            statements = Statements()
            async with db.connection() as conn:
                conn._conn.add_query_logger(statements)  # the pool's one connection
            made = [(await create_order(orders))[0] for _ in range(calls)]
            statements.report("OrderRepository.create", calls)
            for order_id in made:
                await change_order(orders, order_id, OrderStatus.PROCESSING)
            statements.report("OrderRepository.change", calls)
        finally:
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    uvloop.run(run(args.postgres_url, args.calls))


if __name__ == "__main__":
    main()
