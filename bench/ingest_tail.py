"""Where a paced phase's tail latency comes from: its answers by half second, beside what the
server and PostgreSQL were doing then, on PostgreSQL.

    .venv/bin/python bench/ingest_tail.py [--levels 64,128,256] [--rate R] [--no-settle]
                                          [--duration S]

As ``bench/ingest.py`` runs it: a server on a fresh database, max phases at ``--levels`` in
flight (the database filled as the benchmark fills it), then a phase paced at ``--rate`` (by
default half of the best max), started from clean storage (``ingest.settle``) unless
``--no-settle``. While it runs, every 50 ms: the server's CPU (/proc) and the wait event of each
active PostgreSQL backend of the database (``pg_stat_activity``). Printed per half second: the
answers, their p50, p99 and max latency (from each request's scheduled time), the server's CPU,
and the wait events seen most. A stall shows as a half second with few answers, then one with
many, their max near the stall's length; what the backends waited on then says where it was
(``IO / WALSync``: the WAL's fsync; ``Client / ClientRead``: the server). A half second whose
max is over ``--slow`` ms is marked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import asyncpg
import ingest
import uvloop
from harness.cpu import pid_cpu
from harness.databases import PG_ADMIN_URL, fresh_database_url
from harness.report import machine, percentile

SAMPLE_S = 0.05
BUCKET_S = 0.5


async def sample(url: str, pid: int, stop: asyncio.Event) -> list[tuple[float, float, list[str]]]:
    """(time, the server's CPU seconds since the last sample, the active backends' waits)."""
    samples: list[tuple[float, float, list[str]]] = []
    conn = await asyncpg.connect(url, timeout=10)
    try:
        last = pid_cpu(pid)
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT coalesce(wait_event_type || ' / ' || wait_event, 'on CPU') AS wait"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state = 'active'"
            )
            cpu = pid_cpu(pid)
            samples.append((time.perf_counter(), cpu - last, [row["wait"] for row in rows]))
            last = cpu
            await asyncio.sleep(SAMPLE_S)
    finally:
        await conn.close()
    return samples


async def run(args: argparse.Namespace) -> None:
    config = replace(ingest.Config(), peak_levels=args.levels, duration=args.duration)
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    async with fresh_database_url("postgresql", args.postgres_url) as (url, folder):
        token = await ingest.prepare(url)
        with ingest.server("ingest", url, folder, key) as (urls, procs):
            sources = await ingest.make_sources(urls[0], token)
            pid = procs[0].pid
            rate = args.rate
            if args.levels:
                flood = await ingest.peak(urls, [pid], sources, config, pg_url=url)
                print(f"max {flood.rate:,.0f}/s  [{flood.note}]", flush=True)
                rate = rate or flood.rate / 2
            if not rate:
                raise SystemExit("--rate is needed when --levels is empty")
            count = int(rate * config.duration)
            spec = {
                "urls": urls,
                "sources": sources,
                "count": count,
                "duration": config.duration,
                "rate": rate,
                "in_flight": max(config.in_flight, 256),
                "stamps": True,
            }
            with ingest.load_generator(spec) as (load, out):
                if not args.no_settle:
                    await ingest.settle(url)
                stop = asyncio.Event()
                sampling = asyncio.create_task(sample(url, pid, stop))
                start = time.perf_counter()
                load.write_line("GO")
                line = await asyncio.to_thread(load.read_line, config.duration + 2 * ingest.SLACK_S)
                stop.set()
                samples = await sampling
                if line != "DONE":
                    raise RuntimeError("the load generator did not finish")
                result = json.loads(Path(out).read_text())
    report(result, samples, start, rate, args.slow)


def report(
    result: dict[str, list[float]],
    samples: list[tuple[float, float, list[str]]],
    start: float,
    rate: float,
    slow: float,
) -> None:
    latencies = [x * 1000 for x in result["latencies"]]
    answered: dict[int, list[float]] = {}
    for latency, stamp in zip(latencies, result["stamps"], strict=True):
        answered.setdefault(int((stamp - start) / BUCKET_S), []).append(latency)
    sampled: dict[int, list[tuple[float, list[str]]]] = {}
    for at, cpu, waits in samples:
        sampled.setdefault(int((at - start) / BUCKET_S), []).append((cpu, waits))
    print(
        f"paced at {rate:,.0f}/s: {len(latencies):,} answered, p50"
        f" {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, max"
        f" {max(latencies, default=float('nan')):.1f} ms"
    )
    print("   from  answers    p50    p99    max  server CPU  waits seen (samples)")
    for bucket in sorted(answered):
        found = answered[bucket]
        seen = sampled.get(bucket, [])
        cpu = sum(c for c, _ in seen) / BUCKET_S * 100
        waits = Counter(w for _, ws in seen for w in ws).most_common(3)
        mark = "  <- slow" if max(found) > slow else ""
        print(
            f"{bucket * BUCKET_S:6.1f} s {len(found):7,} {percentile(found, 50):6.1f}"
            f" {percentile(found, 99):6.1f} {max(found):6.1f} {cpu:9.0f} %  "
            + ", ".join(f"{w} ({n})" for w, n in waits)
            + mark
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--levels",
        type=lambda text: tuple(int(part) for part in text.split(",") if part),
        default=ingest.Config().peak_levels,
        help="max phases first, at these levels in flight (empty: none; then --rate is needed)",
    )
    parser.add_argument("--rate", type=float, default=0.0, help="default: half of the max")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a phase, at most")
    parser.add_argument("--no-settle", action="store_true", help="no CHECKPOINT and sync first")
    parser.add_argument("--slow", type=float, default=40.0, help="ms: a half second marked")
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    args = parser.parse_args()
    for line in machine(ingest.PACKAGES):
        print(line)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
