"""Simulator as a load generator: requests per second from one process, beside the ingest
benchmark's own load generator, against the same bare server.

    .venv/bin/python bench/simulate.py [--requests N] [--in-flight N] [--rounds N]

One server process runs ``bench/ingest.py``'s bare ASGI app (uvicorn, uvloop, httptools: it
reads the body and answers 200), so the receiver costs the same for both. In this one process,
taking turns for ``--rounds`` rounds:

1. ``bench/ingest.py``'s load generator (``presign`` then ``fire``): ``--requests`` requests
   signed before the clock starts, half Transak, half Revolut, ``--in-flight`` at a time;
2. the simulator (``rampwire.simulate``): Revolut and Transak lifecycles, no faults, no
   pacing, ``--in-flight`` orders at a time, enough orders for about ``--requests`` requests;
   planned before the clock starts (as the load generator presigns), then each request signed
   when it is sent, its answer recorded and the run graded, on the clock.

Requests per second is 2xx answers over the wall time of the phase; the best and the median
round are printed. The server is stopped by its pid at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import aiohttp
import ingest
import uvloop
from harness.report import loadavg, machine

from rampwire.simulate import Options, http_sender
from rampwire.simulate.simulation import prepare
from rampwire.simulate.simulation import run as play
from rampwire.simulate.wire_client import WireClient

SECRET = "wsk_bench-secret-0123456789abcdef"


async def load_generator(url: str, count: int, in_flight: int) -> float:
    requests = ingest.presign(count, {"transak": "src_bench", "revolut": "src_bench"})
    spec: dict[str, Any] = {"urls": [url], "in_flight": in_flight, "duration": 600.0, "rate": 0}
    result = await ingest.fire(spec, requests)
    return float(result["ok"]) / float(result["elapsed"])


async def simulator(url: str, count: int, in_flight: int, *, lean: bool = True) -> float:
    ok = 0
    elapsed = 0.0
    connector = aiohttp.TCPConnector(limit=in_flight, limit_per_host=in_flight)
    client = WireClient(f"{url}/ingest/src_bench", connections=in_flight, timeout=30)
    async with aiohttp.ClientSession(connector=connector) as session:
        send = client.send if lean else http_sender(session, f"{url}/ingest/src_bench", timeout=30)
        for name, steps in (("revolut", 2.0), ("transak", 4.0)):  # about 2 and 4 per order
            options = Options(
                dialect=name,
                secrets=(SECRET,),
                orders=max(1, int(count / 2 / steps)),
                seed=1,
                concurrency=in_flight,
            )
            plan, forger = prepare(options)  # as the load generator presigns: before the clock
            started = time.perf_counter()
            result = await play(plan, forger, options, send)
            elapsed += time.perf_counter() - started
            ok += sum(1 for o in result.outcomes if o.ok)
    client.close()
    return ok / elapsed


async def run(args: argparse.Namespace, url: str) -> None:
    generator: list[float] = []
    simulated: list[float] = []
    through_aiohttp: list[float] = []
    for round_ in range(args.rounds):
        generator.append(await load_generator(url, args.requests, args.in_flight))
        simulated.append(await simulator(url, args.requests, args.in_flight))
        through_aiohttp.append(await simulator(url, args.requests, args.in_flight, lean=False))
        print(
            f"round {round_ + 1}: load generator {generator[-1]:,.0f} req/s,"
            f" simulate {simulated[-1]:,.0f} req/s,"
            f" simulate through aiohttp {through_aiohttp[-1]:,.0f} req/s",
            flush=True,
        )
    for label, rates in (
        ("bench/ingest.py load generator", generator),
        ("simulate", simulated),
        ("simulate through aiohttp", through_aiohttp),
    ):
        print(f"{label}: best {max(rates):,.0f} req/s, median {statistics.median(rates):,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="rampwire simulate as a load generator")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for line in machine(["aiohttp", "uvicorn", "uvloop"]):
        print(line)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        ingest.server("bare", "", data_dir, "") as (urls, _),
    ):
        uvloop.run(run(args, urls[0]))
    print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
