"""The client CPU of one asyncpg round trip on this machine, on uvloop:

    .venv/bin/python bench/roundtrip.py [--postgres-url URL] [--count N]

Times ``N`` transactions of ``BEGIN; SELECT 1; COMMIT`` (three round trips each) and prints the
process CPU and wall time per round trip. Every round trip an ingest batch or an API write
saves is worth about this much of the server's CPU.
"""

from __future__ import annotations

import argparse
import time

import asyncpg
import uvloop


async def main(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        for _ in range(50):  # warm up
            await conn.execute("SELECT 1")
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            async with conn.transaction():
                await conn.execute("SELECT 1")
        trips = count * 3
        print(
            f"{trips:,} round trips: {(time.process_time() - cpu) / trips * 1e6:.0f} us CPU,"
            f" {(time.perf_counter() - wall) / trips * 1e6:.0f} us wall each"
        )
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    uvloop.run(main(args.postgres_url, args.count))
