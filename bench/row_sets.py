"""Row sets on PostgreSQL: client and PostgreSQL CPU per row to send a row set and read it back
as the relation ``v`` (``SELECT count(*) FROM v``), as one typed array per column against one
array of its row type (``Columns.row_type``, a view's: migration 0014), for each row-typed write
of the ingest and publish paths.

    .venv/bin/python bench/row_sets.py [--rows 16] [--statements 1500] [--rounds 5]

A fresh migrated database ``rampwire_bench_<random>`` (dropped at the end); the rows are
synthetic, of the sizes an ingest request writes (a 600-byte raw body, a 250-byte order body).
Each round runs ``--statements`` statements of ``--rows`` rows per case on one connection, and
the cases alternate round by round; printed per case: the median and every round's CPU per row
of this process and of the PostgreSQL backend. Each statement's own cost (a round trip) is in
both figures, divided by ``--rows``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from harness.cpu import PostgresCpu
from harness.databases import PG_ADMIN_URL, fresh_database

from rampwire.repository import inbound_rows, order_rows, outbox
from rampwire.storage.database import Columns, execute_rows

NOW_US = 1_765_000_000_000_000
BODY = (
    '{"id": "ord_x", "status": "processing", "fiat": {"amount": "100.00", "currency": "EUR"},'
    ' "crypto": {"amount": "0.001", "currency": "BTC"}, "wallet": "0xabc", "metadata": {}}'
)


def _order(i: int) -> tuple[Any, ...]:
    return (
        f"ord_{i:026}", "transak", f"tx-{i}", "buy", "processing", 2, NOW_US, NOW_US + 1,
        NOW_US + 1, '{"status": 1765000000000001}', BODY, 2, None,
    )  # fmt: skip


def _entry(i: int) -> tuple[Any, ...]:
    body = '{"status": "processing", "source": {"provider": "transak"}}'
    return (f"ord_{i:026}", 1, NOW_US, NOW_US, "status", body)


def _event(i: int) -> tuple[Any, ...]:
    return (f"evt_{i:026}", "order.processing", f"ord_{i:026}", 2, NOW_US, BODY, None)


def _inbound(i: int) -> tuple[Any, ...]:
    headers = '{"content-type": "application/json", "revolut-signature": "v1=abc"}'
    return (
        f"inb_{i:026}", "src_0123456789abcdefghijklmnop", "revolut", f"key-{i}", NOW_US,
        NOW_US + 1, "applied", None, f"po-{i}", f"ord_{i:026}", "ORDER_COMPLETED",
        '["evt_1", "evt_2"]', headers, "x" * 600, "127.0.0.1", 1,
    )  # fmt: skip


def _delivery(i: int) -> tuple[Any, ...]:
    return (
        f"dlv_{i:026}", "ep_0123456789abcdefghijklmnop", f"evt_{i:026}", "order.processing",
        f"ord_{i:026}", None, None, "pending", 0, NOW_US, NOW_US, NOW_US, None,
    )  # fmt: skip


def _update(i: int) -> tuple[Any, ...]:
    row = _order(i)
    return (row[0], row[4], row[5], *row[7:12])


TABLES: dict[str, tuple[Columns, Callable[[int], tuple[Any, ...]]]] = {
    "orders": (order_rows.ORDER, _order),
    "order updates": (order_rows.ORDER_UPDATE, _update),
    "timeline": (order_rows.ENTRY, _entry),
    "events": (outbox._EVENT, _event),
    "inbound": (inbound_rows.INBOUND, _inbound),
    "deliveries": (outbox._NEW_DELIVERY, _delivery),
}


async def run(args: argparse.Namespace) -> None:
    async with fresh_database("postgresql", args.postgres_url) as db:
        found: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for table, (typed, make) in TABLES.items():
                rows = [make(i) for i in range(args.rows)]
                for how, columns in (
                    ("per column", Columns(typed.names, typed.types)),
                    ("row type", typed),
                ):
                    pg = PostgresCpu(db)
                    await pg.start()
                    own = time.process_time()
                    async with db.connection() as conn:
                        for _ in range(args.statements):
                            await execute_rows(conn, columns, rows, "SELECT count(*) FROM v")
                    own = time.process_time() - own
                    postgres = await pg.stop()
                    per = 1e6 / (args.rows * args.statements)
                    found.setdefault(f"{table}, {how}", []).append((own * per, postgres * per))
        for case, rounds in found.items():
            own = sorted(r[0] for r in rounds)
            pg = sorted(r[1] for r in rounds)
            print(
                f"{case:28} client {own[len(own) // 2]:5.2f} us/row {[round(o, 2) for o in own]}"
                f"  PostgreSQL {pg[len(pg) // 2]:5.2f} us/row {[round(p, 2) for p in pg]}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument("--rows", type=int, default=16, help="per statement")
    parser.add_argument("--statements", type=int, default=1500, help="per case and round")
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
