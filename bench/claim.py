"""The claim statement's own cost on SQLite: the fair claim (per-endpoint rooms, a window
function over the locked candidates) against the plain claim it replaced (0e5be77), on the same
table, rows and limit, alternating. Prints CPU per claimed row and the ratio.

    .venv/bin/python bench/claim.py [--rows 40000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from rampwire.repository import deliveries
from rampwire.storage import migrate, open_database
from rampwire.storage.database import to_us
from rampwire.types import utcnow

BATCH = 250  # rows per claim, as the worker's drain claims
CLAIMS = 40  # per round and statement
# The claim before the fair scheduler: the due deliveries, oldest first, nothing per endpoint.
_PLAIN = (
    "UPDATE deliveries SET next_attempt_at = $1, lease_token = $2 WHERE id IN ("
    "SELECT d.id FROM deliveries d WHERE d.next_attempt_at <= $3"
    " AND (d.fifo_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries p"
    "  WHERE p.fifo_key = d.fifo_key AND p.fifo_seq < d.fifo_seq"
    "  AND p.next_attempt_at IS NOT NULL))"
    " ORDER BY d.next_attempt_at LIMIT $4) RETURNING id"
)


async def main(rows: int, rounds: int) -> None:
    folder = tempfile.mkdtemp(prefix="rampwire-claim-")
    db = open_database(f"sqlite:///{folder}/claim.db")
    await db.open()
    await migrate(db)
    us = to_us(utcnow())
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO events (id, type, created_at, payload)"
            " VALUES ('evt_1', 'order.created', $1, '{}')",
            us,
        )
        await conn.execute(
            "INSERT INTO endpoints (id, url, event_types, dialect, headers, secrets,"
            " max_in_flight, ordering, created_at, updated_at) VALUES ('ep_1', 'http://x',"
            " '[\"*\"]', 'standard', '{}', '[]', 256, 'none', $1, $1)",
            us,
        )
        await conn.executemany(
            "INSERT INTO deliveries (id, endpoint_id, event_id, event_type, status, attempts,"
            " next_attempt_at, created_at, updated_at)"
            " VALUES ($1, 'ep_1', 'evt_1', 'order.created', 'pending', 0, $2, $2, $2)",
            [(f"dlv_{i:07d}", us + i) for i in range(rows)],
        )
    cpu: dict[str, list[float]] = {"plain": [], "fair": []}
    try:
        for _ in range(rounds):
            for name in ("plain", "fair"):
                async with db.transaction() as conn:  # everything due again
                    await conn.execute(
                        "UPDATE deliveries SET next_attempt_at = created_at, lease_token = NULL"
                    )
                now = us + 10**9
                started, claimed = time.process_time(), 0
                for n in range(CLAIMS):
                    async with db.transaction() as conn:
                        if name == "plain":
                            found = await conn.fetch(_PLAIN, now + 10**10, f"t{n}", now, BATCH)
                        else:
                            found = await conn.fetch(
                                deliveries._CLAIM_SQLITE,
                                now + 10**10,
                                f"t{n}",
                                now,
                                BATCH,
                                "[]",
                                '{"ep_1": 512}',
                                100,
                            )
                    claimed += len(found)
                cpu[name].append((time.process_time() - started) / claimed * 1e6)
    finally:
        await db.close()
    for name, figures in cpu.items():
        shown = ", ".join(f"{f:.1f}" for f in figures)
        print(f"{name:5} claim: CPU per claimed row {shown} us ({rows:,} rows, {BATCH} per claim)")
    ratio = sorted(cpu["fair"])[rounds // 2] / sorted(cpu["plain"])[rounds // 2]
    print(f"fair / plain (medians): {ratio:.2f} x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.rounds))
