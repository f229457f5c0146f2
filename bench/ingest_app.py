"""Ingest through the real app, in process, on PostgreSQL: CPU of this process and of PostgreSQL
per verified request sent to the ASGI app (the app's middleware, the ingest front, verification
and decoding, the group commit), with no HTTP server, socket or load generator process, whose
share of a loaded 2-core machine hides a few percent in ``bench/ingest.py``.

    .venv/bin/python bench/ingest_app.py [--requests N] [--tasks 64] [--rounds R]

The app is ``create_app`` with the environment's settings (its lifespan run, its delivery worker
too), on a fresh database ``rampwire_bench_<random>`` (dropped at the end), with a Transak and a
Revolut source; the requests are ``bench/ingest.py``'s (pre-signed before the clock starts, each
a new order at processing; with ``--again``, half of them, then the same orders at completed,
each a read of an order the process wrote). First ``--warmup`` requests (256) go through
uncounted, so what the process does once (a patch field's validator built at its first use,
statements prepared on each pooled connection) is not counted as a request's. Each round
sends ``--requests`` new requests from ``--tasks`` callers at once, and prints per request
this process's CPU and the PostgreSQL backends' CPU;
the best round is printed last. To compare two versions, run it with ``PYTHONPATH`` set to each
one's ``src`` in turn, alternating.

With ``--callgrind``, the script runs itself under valgrind's callgrind and counts this
process's instructions per request, only while the requests are in flight (imports, set-up and
the database's preparation are not counted): a figure other load does not move. PostgreSQL's
CPU per request is still measured from /proc, at the start and the end only (the 0.25 s samples
of a plain run would be counted, more of them the slower the run); batches are those of an app
running 50-100 times slower, so requests per transaction (printed) differ from a plain run's.
Work that runs by the clock rather than per request is counted too, in proportion to the run's
wall time: ``RAMPWIRE_SERVE_WORKER=0`` leaves the delivery worker out (these requests have no
endpoints to deliver to), and ``RAMPWIRE_INGEST_WRITERS=1`` with ``--tasks 16`` holds the
batches at ~8 requests, for A/B runs whose spread is the code's. With
``BENCH_CALLGRIND_KEEP=PATH`` the callgrind file is kept there, for ``callgrind_annotate``.

With ``--profile PATH``, cProfile runs while the requests are in flight (as callgrind counts) and
its stats go to ``PATH``; the Python function calls per request are printed (a count the load
does not move either; the profiler's own cost makes its times useless).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from harness.cpu import PostgresCpu
from harness.databases import PG_ADMIN_URL, fresh_database_url
from ingest import bench_sources, prepare, presign

from rampwire import heap
from rampwire.api import create_app
from rampwire.api.state import app_state
from rampwire.settings import Secret, Settings
from rampwire.testing.asgi import lifespan

DEADLINE_S = 120.0  # no measured loop runs longer than this


def scope_of(path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def post(app: Any, path: str, headers: dict[str, str], body: bytes) -> int:
    """One request through the app; its status."""
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the body is over: wait as a server would
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_of(path, headers, body), receive, send)
    return status


async def run(args: argparse.Namespace) -> None:
    async with fresh_database_url("postgresql", args.postgres_url) as (url, folder):
        await prepare(url)
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        settings = Settings.from_env().replace(
            database_url=url, data_dir=Path(folder), master_key=Secret(key)
        )
        app = create_app(settings)
        async with lifespan(app):
            state = app_state(app)
            ids = await bench_sources(state.sources)
            signed = [
                request
                for _ in range(args.rounds)
                for request in presign(args.requests, ids, again=args.again)
            ]
            # uncounted: what runs once per process (each field's pydantic validator built at
            # its first patch, statements prepared on each pooled connection) is not a request's
            warm = presign(args.warmup, ids) if args.warmup else []
            await measure(app, state, warm, min(args.tasks, max(len(warm), 1)), quiet=True)
            best: tuple[float, str] | None = None
            with heap.settled():
                for _ in range(args.rounds):
                    batch, signed = signed[: args.requests], signed[args.requests :]
                    line, total = await measure(
                        app, state, batch, args.tasks, args.counted, args.profile
                    )
                    print(line, flush=True)
                    await state.db.analyze_new_tables()  # as the server's statistics task does
                    if best is None or total < best[0]:
                        best = (total, line)
            if best is not None:
                print("best round:")
                print(best[1])


def instrumented(on: bool) -> None:
    """Callgrind counts this process's instructions (``--callgrind``) from now on, or stops."""
    command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


async def measure(
    app: Any,
    state: Any,
    requests: list[tuple[str, dict[str, str], bytes]],
    tasks: int,
    counted: bool = False,
    profile: str | None = None,
    *,
    quiet: bool = False,
) -> tuple[str, float]:
    """Send ``requests`` from ``tasks`` callers; the figures' line and the CPU per request.
    ``quiet``: a warm-up, nothing counted, profiled or sampled."""
    queue = list(reversed(requests))

    async def loop() -> int:
        done = 0
        deadline = time.monotonic() + DEADLINE_S
        while queue:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(queue)} requests left after {DEADLINE_S:.0f} s")
            path, headers, body = queue.pop()
            status = await post(app, path, headers, body)
            if status != 200:
                raise RuntimeError(f"{path}: {status}")
            done += 1
        return done

    if quiet:
        await asyncio.gather(*(loop() for _ in range(tasks)))
        return "", 0.0
    transactions = state.inbound._commits.transactions
    pg = PostgresCpu(state.db, sampled=not counted)  # no samples inside the count
    await pg.start()
    profiler = cProfile.Profile() if profile else None
    if counted:
        instrumented(True)
    if profiler is not None:
        profiler.enable()
    own, wall = time.process_time(), time.perf_counter()
    done = sum(await asyncio.gather(*(loop() for _ in range(tasks))))
    wall, own = time.perf_counter() - wall, time.process_time() - own
    if profiler is not None:
        profiler.disable()
    if counted:
        instrumented(False)
    postgres = await pg.stop()
    made = state.inbound._commits.transactions - transactions
    per = 1e6 / max(done, 1)
    line = (
        f"{tasks:>5} tasks  {done / wall:>7,.0f} requests/s  app CPU {own * per:>5,.0f} us"
        f"  PostgreSQL CPU {postgres * per:>5,.0f} us  total {(own + postgres) * per:>5,.0f} us"
        f"  requests/transaction {done / max(made, 1):>5.1f}"
    )
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        line += f"  Python calls per request {calls / max(done, 1):,.0f}"
    return line, (own + postgres) * per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument("--requests", type=int, default=3000, help="per round")
    parser.add_argument("--tasks", type=int, default=64, help="concurrent callers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=256,
        help="requests sent before the rounds, not counted (one-off costs: validators, statements)",
    )
    parser.add_argument(
        "--callgrind", action="store_true", help="instructions per request, under callgrind"
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="half of each round's requests change again the orders the other half made",
    )
    parser.add_argument("--profile", metavar="PATH", help="cProfile the requests into PATH")
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)  # under it
    args = parser.parse_args()
    if args.callgrind:
        under_callgrind(args)
    else:
        uvloop.run(run(args))


def under_callgrind(args: argparse.Namespace) -> None:
    """This script again, under callgrind with ``--counted``; its lines, and the instructions
    per request of every round together."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command += [f"--callgrind-out-file={out}", sys.executable, *sys.argv]
        command = [c for c in command if c != "--callgrind"] + ["--counted"]
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
        found = re.search(r"^totals: (\d+)", out.read_text(errors="replace"), re.M)
        if found is None:
            raise RuntimeError(f"no totals in {out}")
        keep = os.environ.get("BENCH_CALLGRIND_KEEP")
        if keep:
            Path(keep).write_bytes(out.read_bytes())
    requests = args.requests * args.rounds
    print(f"instructions per request: {int(found[1]) / requests:,.0f} ({requests:,} requests)")


if __name__ == "__main__":
    main()
