"""Ingest benchmark: verified provider webhooks per second and their latency, through the real
server stack, on SQLite and PostgreSQL, against a bare ASGI app on the same stack.

    .venv/bin/python bench/ingest.py [--backend sqlite|postgresql|both] [--requests N]
                                     [--duration S] [--rate R] [--in-flight N]
    .venv/bin/python bench/ingest.py --servers N [--rounds R]     # scale-out, PostgreSQL

Per back-end (a fresh database each: a temporary SQLite file, or a PostgreSQL database
``rampwire_bench_<random>`` dropped at the end), a server process runs what ``rampwire serve``
runs (uvicorn, uvloop, httptools, the real app with its in-process delivery worker) on
127.0.0.1, with a Transak and a Revolut source. A load generator in its own process (so it does
not share the server's event loop) pre-signs every request before the clock starts: each one a
new event for a new order (half Transak JWTs, half Revolut HMACs), so none is a duplicate and
each creates an order with two canonical events. Then:

1. max throughput: up to ``--requests`` requests for at most ``--duration`` seconds, at each
   of ``--peak-levels`` (64, 128, 256) requests in flight in turn, the best level kept (a
   group-committing server does more the more it is offered at once; "max" is the most it
   does); verified ingests/s (200 answers) and latency p50/p99, every level's rate printed;
2. paced: ``--rate`` requests/s (by default half of 1.'s max) offered for ``--duration``
   seconds (at most ``--in-flight``, at least 256, waiting; when more would be, the pace
   slips and that is counted); latency p50/p99 measured from each request's scheduled time,
   so a server that falls behind shows it; the achieved rate is printed;
3. baseline (once per run): a bare ASGI app that reads the body and answers 200, on the same
   server stack, driven by the same client with the same requests, as in 1 (its levels too).

Each phase starts from clean storage (``settle``: a ``CHECKPOINT`` and a sync), so that the
write-back of an earlier phase's writes does not land in it. CPU seconds per request are
printed for the server, PostgreSQL's backends and the load generator, with the machine's other
load, because the machine may be shared. Every loop has a count and a deadline; every process
started is stopped by its pid. What the benchmarks share
(CPU accounting, databases, percentiles, the machine's description) is in ``bench/harness/``.

``--costs metrics,tracing`` runs only the cost of metrics, and of tracing at 10 % sampling:
for each, one server flooded for ``2 x --pairs x --slice`` seconds, the one switched on and
off by signal a slice at a time (``harness/slices.py``), each slice's requests/s and CPU per
request, and the median of the pairs' on/off ratios; ``--control`` switches off both ways
(an A/A run).

``--ab-rounds R`` runs only max throughput (with ``--rate``: paced at that rate) of two servers,
alternating, R rounds: "off" with ``--against DIR``'s ``src`` first on ``PYTHONPATH`` (``git
archive <commit> src | tar -x -C DIR``), "on" this tree with each ``--ab-env KEY=VALUE`` added;
each round's rate, server + PostgreSQL CPU per request and p99, and the median of the rounds'
on/off ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp
import asyncpg
import uvloop
from harness import slices, spans
from harness.cpu import machine_busy, pid_cpu
from harness.databases import PG_ADMIN_URL, fresh_database_url
from harness.paired import Paired, even, first
from harness.report import loadavg, machine, percentile, scale_table

START_S = 30.0  # for a server or a load generator to be ready
STOP_S = 10.0  # for a process to exit after SIGTERM
PRESIGN_S = 120.0  # for the load generator to sign its requests
SLACK_S = 30.0  # a phase ends at most this long after its duration
SLICE_LEAD_S = 2.0  # --metrics-pairs: load before the first slice and after the last
TRANSAK_TOKEN = "bench-access-token-" + "0" * 16
REVOLUT_SECRET = "wsk_bench-secret-" + "0" * 16
# Ratios in the same run (issue 23): the max against the bare app's; p99 paced at half of the
# max (or at --rate) on PostgreSQL.
TARGETS = {"max_over_bare": 0.2, "p99_ms": 50.0}
PACKAGES = (  # their versions head the output
    "uvicorn",
    "uvloop",
    "httptools",
    "fastapi",
    "starlette",
    "aiohttp",
    "asyncpg",
    "aiosqlite",
    "orjson",
)


@dataclass(frozen=True)
class Config:
    requests: int = 20_000  # at most, in a max-throughput phase
    duration: float = 10.0  # seconds, at most, per phase
    rate: float = 0.0  # requests/s offered in the paced phase; 0: half of the max phase's
    in_flight: int = 64  # requests in flight, at most (paced: at least 256 waiting)
    # A max phase is run at each of these levels in flight, one after the other, and the best
    # kept: a group-committing server's throughput grows with the requests it is offered at
    # once, a one-transaction-a-request server's does not, and "max" is the most either does.
    peak_levels: tuple[int, ...] = (64, 128, 256)


# --- server process -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the request and answers 200 with a short JSON body: the stack's own cost."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"received":true,"duplicate":false}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def run_server(app_name: str, database_url: str, data_dir: str, port: int) -> None:
    """What ``rampwire serve`` runs, without the migration and key banner (done beforehand)."""
    import uvicorn

    from rampwire.api import create_app
    from rampwire.cli.server import server_config
    from rampwire.settings import Secret, Settings

    app: Any = bare_app
    if app_name == "ingest":
        # The other settings come from RAMPWIRE_* as for ``rampwire serve`` (for instance
        # RAMPWIRE_INGEST_BATCH and RAMPWIRE_INGEST_WRITERS).
        settings = Settings.from_env().replace(
            database_url=database_url,
            data_dir=Path(data_dir),
            master_key=Secret(os.environ["BENCH_MASTER_KEY"]),
        )
        app = create_app(settings)
        if switched := os.environ.get("BENCH_SWITCH"):
            _switch(app, switched)
    config = server_config(app, host="127.0.0.1", port=port, access_log=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(config)

    def announce() -> None:  # the parent waits for every server before it fires
        deadline = time.monotonic() + START_S
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        print("READY" if server.started else "NOT READY", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    profile = os.environ.get("BENCH_PROFILE")
    if not profile:
        server.run(sockets=[sock])
        return
    import cProfile

    profiler = cProfile.Profile()

    def dump(*_: object) -> None:  # uvicorn re-raises SIGTERM once it has shut down
        profiler.disable()
        profiler.dump_stats(f"{profile}.{app_name}")
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    profiler.enable()
    server.run(sockets=[sock])
    dump()


def _switch(app: Any, what: str) -> None:
    """SIGUSR1 turns the server's metrics or tracing (``what``) on, SIGUSR2 off: metrics by
    their ``enabled`` flag (what ``RAMPWIRE_METRICS=0`` sets at start: every meter returns at
    once), tracing by :func:`harness.spans.switch` (off, it is ``Tracing()``). Python runs the
    handler on the main thread, the event loop's, between two bytecodes."""

    def to(on: bool) -> Any:
        def handler(*_: object) -> None:
            telemetry = app.state.rampwire.telemetry
            if what == "metrics":
                telemetry.metrics.enabled = on
            else:
                spans.switch(telemetry.tracing, on)

        return handler

    signal.signal(signal.SIGUSR1, to(True))
    signal.signal(signal.SIGUSR2, to(False))


class Process:
    """A child process of this script, stopped by its pid."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().decode().strip() if ready else ""

    def write_line(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_S)


@contextlib.contextmanager
def server(
    app_name: str,
    database_url: str,
    data_dir: str,
    master_key: str,
    count: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[list[str], list[Process]]]:
    """``count`` server processes, each on a port of its own (N API nodes: the load generator
    spreads its requests over them, as a balancer would), each ready before this yields their
    URLs."""
    env = (
        {"BENCH_MASTER_KEY": master_key}
        | ({"BENCH_PROFILE": profile} if (profile := os.environ.get("BENCH_PROFILE_TO")) else {})
        | (extra_env or {})
    )
    args = ["--role", "server", "--app", app_name, "--database-url", database_url]
    args += ["--data-dir", data_dir]
    processes: list[Process] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            processes.append(Process([*args, "--port", str(port)], env=env))
            if processes[-1].read_line(START_S) != "READY":
                raise RuntimeError(f"the {app_name} server did not start")
            urls.append(f"http://127.0.0.1:{port}")
        yield urls, processes
    finally:
        for process in processes:
            process.stop()


# --- load generator process ---------------------------------------------------------------------


async def bench_sources(sources: Any) -> dict[str, str]:
    """A Transak and a Revolut source, stored through ``sources`` (a ``SourceRepository`` or
    the app's): provider name -> source id, as :func:`presign` takes them."""
    from rampwire.domain.orders import Provider
    from rampwire.ids import new_id
    from rampwire.ingest.sources import SOURCE_ID_PREFIX, IngestSource
    from rampwire.types import utcnow

    ids = {}
    for provider, credentials in (
        (Provider.TRANSAK, {"access_token": TRANSAK_TOKEN}),
        (Provider.REVOLUT, {"secrets": [REVOLUT_SECRET]}),
    ):
        now = utcnow()
        source = IngestSource(
            id=new_id(SOURCE_ID_PREFIX),
            provider=provider,
            name=f"bench {provider.value}",
            credentials=credentials,
            options={},
            created_at=now,
            updated_at=now,
        )
        ids[provider.value] = (await sources.create(source)).id
    return ids


def presign(
    count: int, sources: dict[str, str], *, again: bool = False
) -> list[tuple[str, dict[str, str], bytes]]:
    """``count`` requests, alternately Transak and Revolut, each a new order at processing;
    with ``again``, half of them so, then the same orders at completed, in the same order (each
    order changed once more, a read of an order this process wrote)."""
    from rampwire.dialects import RevolutCredentials, TransakCredentials, get_dialect
    from rampwire.dialects.base import DialectName, OutboundEvent
    from rampwire.dialects.samples import sample_order
    from rampwire.domain.orders import OrderStatus, Side
    from rampwire.ids import new_id
    from rampwire.settings import Secret
    from rampwire.types import utcnow

    kinds = [
        ("transak", Side.SELL, TransakCredentials(access_tokens=(Secret(TRANSAK_TOKEN),))),
        ("revolut", Side.BUY, RevolutCredentials(secrets=(Secret(REVOLUT_SECRET),))),
    ]
    made = []
    now = utcnow()
    orders = []
    for index in range(count - count // 2 if again else count):
        name, side, credentials = kinds[index % 2]
        at = now + timedelta(microseconds=index)
        order = sample_order(DialectName(name), OrderStatus.CREATED, side, now=at)
        orders.append((name, credentials, order))
    steps = [OrderStatus.PROCESSING, OrderStatus.COMPLETED] if again else [OrderStatus.PROCESSING]
    for step, status in enumerate(steps):
        for index, (name, credentials, order) in enumerate(orders[: count - len(made)]):
            at = now + timedelta(seconds=step, microseconds=index)
            order = order.evolve(status=status, updated_at=at)
            event = OutboundEvent(id=new_id("evt"), type=f"order.{status.value}", created_at=at)
            wire = get_dialect(name).encode(event, order, credentials, now=at)
            made.append((f"/ingest/{sources[name]}", wire.headers, wire.body))
    return made


async def fire(
    spec: dict[str, Any], requests: list[tuple[str, dict[str, str], bytes]]
) -> dict[str, Any]:
    """Send the requests (flood, or paced at ``spec["rate"]``), spread in turn over the servers
    of ``spec["urls"]``; latencies in seconds."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    behind = 0
    # with spec["stamps"]: each 200's time (time.perf_counter: the system's monotonic clock,
    # the parent's too), for a parent that measures slices of the run
    stamps: list[float] | None = [] if spec.get("stamps") else None
    in_flight = spec["in_flight"]
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=in_flight, limit_per_host=in_flight)
    urls: list[str] = spec["urls"]
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(request: tuple[str, dict[str, str], bytes], since: float, to: int) -> None:
            nonlocal errors
            path, headers, body = request
            url = urls[to % len(urls)] + path
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 200:
                        done = time.perf_counter()
                        latencies.append(done - since)
                        if stamps is not None:
                            stamps.append(done)
            except (aiohttp.ClientError, TimeoutError):
                errors += 1

        cpu = time.process_time()
        start = time.perf_counter()
        deadline = start + spec["duration"]
        if spec["rate"]:
            pending: set[asyncio.Task[None]] = set()
            total = min(len(requests), int(spec["rate"] * spec["duration"]))
            for index in range(total):
                due = start + index / spec["rate"]
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if time.perf_counter() > deadline:
                    break  # the server fell behind: offering more would only queue it
                if len(pending) >= in_flight:
                    behind += 1
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.create_task(one(requests[index], due, index))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending, timeout=SLACK_S)
        else:
            queue = iter(requests)

            async def loop(to: int) -> None:
                for request in queue:
                    if time.perf_counter() > deadline:
                        return
                    await one(request, time.perf_counter(), to)

            await asyncio.gather(*(loop(index) for index in range(in_flight)))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return {
        "ok": len(latencies),
        "statuses": statuses,
        "errors": errors,
        "elapsed": elapsed,
        "latencies": latencies,
        "cpu": cpu,
        "behind": behind,
        "stamps": stamps,
    }


def run_load(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    count = spec["count"]
    requests = presign(count, spec["sources"])
    # The signed requests (~200,000 objects for 20,000) out of the collector's passes: its full
    # passes over them paused this process 20-84 ms while it fired, each pause added to the
    # latencies of every request in flight, whatever the server did.
    gc.collect()
    gc.freeze()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "GO":
        return
    result = uvloop.run(fire(spec, requests))
    Path(spec["out"]).write_text(json.dumps(result))
    sys.stdout.write("DONE\n")
    sys.stdout.flush()


# --- phases -------------------------------------------------------------------------------------


@dataclass
class Measured:
    rate: float
    p50_ms: float
    p99_ms: float
    ok: int
    elapsed: float
    note: str
    cpu_us: float = 0.0  # CPU per verified request: the server processes and PostgreSQL


async def postgres_pids(database_url: str | None) -> list[int]:
    if database_url is None:
        return []
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def settle(database_url: str | None) -> None:
    """Before a phase: what earlier phases wrote is put on disk, so that its write-back does not
    land in this one. PostgreSQL's ``CHECKPOINT`` writes and fsyncs its dirty pages, and
    ``os.sync`` the rest (SQLite's files). Here, without it, the page cache's write-back of
    three max phases' ~500 MB stalled the WAL's fsyncs of the paced phase after them for
    100-150 ms, most of its p99 (docs/benchmarks.md). For every system alike."""
    if database_url is not None:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
    await asyncio.to_thread(os.sync)


@contextlib.contextmanager
def load_generator(spec: dict[str, Any]) -> Iterator[tuple[Process, str]]:
    """A load generator process for ``spec`` (a result file added as its "out"), its requests
    signed and itself ready: write GO to it to fire; once it prints DONE its result is in the
    file whose path comes with it. Stopped, and both files removed, on the way out."""
    handle, out = tempfile.mkstemp(prefix="rampwire_bench_", suffix=".json")
    os.close(handle)
    spec_path = out + ".spec"
    Path(spec_path).write_text(json.dumps(spec | {"out": out}))
    load = Process(["--role", "load", "--spec", spec_path])
    try:
        if load.read_line(PRESIGN_S) != "READY":
            raise RuntimeError("the load generator did not get ready")
        yield load, out
    finally:
        load.stop()
        for path in (out, spec_path):
            with contextlib.suppress(OSError):
                os.unlink(path)


async def measure(
    urls: list[str],
    server_pids: list[int],
    sources: dict[str, str],
    config: Config,
    *,
    paced: bool,
    pg_url: str | None,
) -> Measured:
    """One load-generator run against ``url``; CPU read around its firing only."""
    count = min(config.requests, int(config.rate * config.duration)) if paced else config.requests
    spec = {
        "urls": urls,
        "sources": sources,
        "count": count,
        "duration": config.duration,
        "rate": config.rate if paced else 0.0,
        "in_flight": config.in_flight if not paced else max(config.in_flight, 256),
    }
    with load_generator(spec) as (load, out):
        await settle(pg_url)
        pg_pids = await postgres_pids(pg_url)
        pg_before = {pid: pid_cpu(pid) for pid in pg_pids}
        server_before = sum(pid_cpu(pid) for pid in server_pids)
        load_before = pid_cpu(load.pid)
        busy_before, steal_before, total_before = machine_busy()
        wall = time.perf_counter()
        load.write_line("GO")
        line = await asyncio.to_thread(load.read_line, config.duration + 2 * SLACK_S)
        wall = time.perf_counter() - wall
        if line != "DONE":
            raise RuntimeError("the load generator did not finish")
        server_cpu = sum(pid_cpu(pid) for pid in server_pids) - server_before
        load_cpu = pid_cpu(load.pid) - load_before
        # backends the pool opened during the run count from zero
        pg_after = await postgres_pids(pg_url)
        pg_cpu = sum(pid_cpu(pid) - pg_before.get(pid, 0.0) for pid in {*pg_before, *pg_after})
        busy, steal, total = machine_busy()
        result = json.loads(Path(out).read_text())
    ok = result["ok"]
    cores = os.cpu_count() or 1
    # steal counts as busy here, as it always has in this script's figures
    busy_s = busy + steal - busy_before - steal_before
    machine = busy_s * cores * wall / max(total - total_before, 1e-9)
    other = max(machine - server_cpu - load_cpu - pg_cpu, 0.0)

    def per(seconds: float) -> str:
        return f"{seconds / max(ok, 1) * 1e6:,.0f} us"

    note = (
        f"{ok:,} ok in {result['elapsed']:.1f} s, statuses {result['statuses']},"
        f" errors {result['errors']}; CPU per request: server {per(server_cpu)}"
        + (f", postgres {per(pg_cpu)}" if pg_url else "")
        + f", load generator {per(load_cpu)}; machine busy {100 * machine / wall:.0f} %"
        f" of {100 * cores} %, other load {100 * other / wall:.0f} %"
    )
    if paced:
        note += f"; offered {config.rate:,.0f}/s, pace slipped {result['behind']} times"
    latencies = [x * 1000 for x in result["latencies"]] or [float("nan")]
    return Measured(
        rate=ok / result["elapsed"],
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        ok=ok,
        elapsed=result["elapsed"],
        note=note,
        cpu_us=(server_cpu + pg_cpu) / max(ok, 1) * 1e6,
    )


async def peak(
    urls: list[str],
    server_pids: list[int],
    sources: dict[str, str],
    config: Config,
    *,
    pg_url: str | None,
) -> Measured:
    """Max throughput: a max phase at each of ``config.peak_levels`` in flight, in that order
    on the same server (each level's requests new ones, so a later level runs on a fuller
    database); the best one, its note prefixed with every level's rate."""
    tried: list[tuple[int, Measured]] = []
    for level in config.peak_levels:
        measured = await measure(
            urls, server_pids, sources, replace(config, in_flight=level), paced=False, pg_url=pg_url
        )
        tried.append((level, measured))
    level, best = max(tried, key=lambda pair: pair[1].rate)
    rates = ", ".join(f"{n}: {m.rate:,.0f}/s" for n, m in tried)
    return replace(best, note=f"best of in flight {rates}; at {level}: {best.note}")


# --- databases ----------------------------------------------------------------------------------


async def prepare(url: str) -> str:
    """Migrate and make a write key (what ``rampwire serve`` does on a first start)."""
    from rampwire.domain.apikeys import Scope
    from rampwire.repository import KeyRepository
    from rampwire.storage import migrate, open_database

    db = open_database(url)
    await db.open()
    try:
        await migrate(db)
        _, token = await KeyRepository(db).create("bench", Scope.WRITE)
    finally:
        await db.close()
    return token


async def make_sources(url: str, token: str) -> dict[str, str]:
    bodies = {
        "transak": {"access_token": TRANSAK_TOKEN},
        "revolut": {"secrets": [REVOLUT_SECRET]},
    }
    found = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as http:
        for provider, credentials in bodies.items():
            body = {"provider": provider, "name": f"bench {provider}", "credentials": credentials}
            async with http.post("/v1/sources", json=body) as response:
                if response.status != 201:
                    raise RuntimeError(
                        f"POST /v1/sources: {response.status} {await response.text()}"
                    )
                found[provider] = (await response.json())["id"]
    return found


# --- main ---------------------------------------------------------------------------------------


def show(label: str, measured: Measured, target: str = "") -> None:
    print(
        f"  {label}: {measured.rate:,.0f} req/s, p50 {measured.p50_ms:.1f} ms,"
        f" p99 {measured.p99_ms:.1f} ms{target}\n    [{measured.note}]",
        flush=True,
    )


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP collector stand-in on 127.0.0.1 that reads each export and answers 200:
    the traced server pays its exporter's real work (protobuf, HTTP), the network aside."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sink.server_address[1]}"
    finally:
        sink.shutdown()
        thread.join(STOP_S)


async def switched_cost(
    args: argparse.Namespace,
    config: Config,
    master_key: str,
    what: str,
    env: dict[str, str],
    target_pct: float,
) -> None:
    """The cost of ``what`` (metrics, tracing) in max verified requests/s, within one run
    (:mod:`harness.slices`): one server (``env`` added to its environment), ``what`` switched
    on (SIGUSR1) and off (SIGUSR2) every ``--slice`` seconds for ``--pairs`` pairs while one
    load generator floods it; each slice's rate from the load generator's completion times,
    its CPU per request from the server's and PostgreSQL's backends' CPU. Separate windows
    each way (``cost``) differed by ±10 % round to round; here both ways share the server, its
    pool, the database's size and the machine's load of the same seconds. For metrics, the
    server's own count of applied requests is then checked against the requests answered in
    its "on" slices, so a switch that did not take would show."""
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    env = env | {"BENCH_SWITCH": what, "RAMPWIRE_METRICS_TOKEN": "bench"}
    for backend in backends:
        async with fresh_database_url(backend, args.postgres_url) as (db_url, folder):
            token = await prepare(db_url)
            pg = db_url if backend == "postgresql" else None
            with server("ingest", db_url, folder, master_key, 1, env) as (urls, procs):
                sources = await make_sources(urls[0], token)
                pid = procs[0].pid
                os.kill(pid, signal.SIGUSR2)  # off until the slices begin
                warm = await measure(urls, [pid], sources, config, paced=False, pg_url=pg)
                print(f"  {backend} warm-up (not counted): {warm.rate:,.0f}/s", flush=True)
                sliced, answered = await _sliced_load(
                    urls, pid, sources, config, warm.rate, args, pg
                )
                counted = await _applied(urls[0]) if what == "metrics" else None
            _slices_report(backend, what, sliced, answered, counted, target_pct)


async def _sliced_load(
    urls: list[str],
    pid: int,
    sources: dict[str, str],
    config: Config,
    rate: float,
    args: argparse.Namespace,
    pg_url: str | None,
) -> tuple[list[slices.Slice], list[float]]:
    """One flood of ``2 x --pairs x --slice`` seconds and a lead on each side, switched slice
    by slice (``--control``: off both ways, an A/A run); the slices (server and PostgreSQL CPU
    read at their ends) and the completion times."""
    pairs, slice_s, control = args.pairs, args.slice, args.control
    duration = 2 * pairs * slice_s + 2 * SLICE_LEAD_S
    spec = {
        "urls": urls,
        "sources": sources,
        "count": int(rate * duration * 1.5) + 1_000,  # a flood that does not run dry
        "duration": duration,
        "rate": 0.0,
        "in_flight": config.in_flight,
        "stamps": True,
    }
    with load_generator(spec) as (load, out):
        await settle(pg_url)
        pg_pids = await postgres_pids(pg_url)

        def read() -> dict[str, float]:
            return {"server": pid_cpu(pid), "postgres": sum(pid_cpu(p) for p in pg_pids)}

        def switch(on: bool) -> None:
            os.kill(pid, signal.SIGUSR1 if on and not control else signal.SIGUSR2)

        load.write_line("GO")
        await asyncio.sleep(SLICE_LEAD_S)
        sliced = await slices.alternate(switch, read, pairs=pairs, slice_s=slice_s)
        switch(False)
        line = await asyncio.to_thread(load.read_line, duration + 2 * SLACK_S)
        if line != "DONE":
            raise RuntimeError("the load generator did not finish")
        result = json.loads(Path(out).read_text())
    if result["elapsed"] < duration - 1:
        raise RuntimeError("the load generator ran out of requests before the slices ended")
    return sliced, sorted(result["stamps"])


async def _applied(url: str) -> float:
    """The server's count of applied ingest requests, from its /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": "Bearer bench"}
        async with http.get(f"{url}/metrics", headers=headers) as response:
            text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "rampwire_ingest_requests_total"
        and sample.labels.get("outcome") == "applied"
    )


def _slices_report(
    backend: str,
    what: str,
    sliced: list[slices.Slice],
    answered: list[float],
    counted: float | None,
    target_pct: float,
) -> None:
    from bisect import bisect_left

    def ok(s: slices.Slice) -> int:
        return bisect_left(answered, s.end["t"]) - bisect_left(answered, s.begin["t"])

    def rate(s: slices.Slice) -> float:
        return ok(s) / s.seconds

    def cpu(s: slices.Slice) -> float:
        return (s.delta("server") + s.delta("postgres")) / max(ok(s), 1) * 1e6

    for s in sliced:
        print(
            f"  pair {s.pair} {'on' if s.on else 'off'}: {rate(s):,.0f}/s,"
            f" {cpu(s):,.0f} us CPU per request (server and database)",
            flush=True,
        )
    if counted is not None:
        on = sum(ok(s) for s in sliced if s.on)
        print(
            f"{backend:10} switch check: the server counted {counted:,.0f} applied requests"
            f" while on; the client had {on:,} answers in the on slices"
            f" ({counted / max(on, 1):.3f})",
            flush=True,
        )
    for label, paired in (
        ("req/s", slices.paired(sliced, rate, higher_is_worse=False)),
        ("CPU per request", slices.paired(sliced, cpu, higher_is_worse=True)),
    ):
        print(
            f"{backend:10} {what} cost, {label}: median {paired.median:+.1f} %"
            f" (target <= {target_pct:g} %: {paired.verdict(target_pct)}); {paired.note()}",
            flush=True,
        )
    for on_, name in ((False, "off"), (True, "on")):
        figures = [rate(s) for s in sliced if s.on == on_]
        print(f"{backend:10} {what} {name}: median {median(figures):,.0f}/s", flush=True)


async def cost(
    args: argparse.Namespace,
    config: Config,
    master_key: str,
    what: str,
    variants: dict[str, dict[str, str]],
    rounds: int,
    target_pct: float,
) -> None:
    """Max throughput with the server's environment each way ("off" and "on"), alternating
    which goes first in each round, on one database per back-end; with ``--rate``, each way's
    window is paced at that rate instead (CPU per request and p99 at a given load). One
    long-lived server per way, both started before the first window and each warmed by a window
    that is not counted, so neither a process start nor its first requests fall in one way's
    windows only; the database grows by the same amount before each way's window over a pair of
    rounds (rounds are made even for that). The cost is the median over the rounds of each
    round's on/off ratio, with every round's, the mean's 95 % interval and the order effect
    (:mod:`harness.paired`)."""
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        rates: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        p99s: dict[str, list[float]] = {name: [] for name in variants}
        async with fresh_database_url(backend, args.postgres_url) as (db_url, folder):
            token = await prepare(db_url)
            pg = db_url if backend == "postgresql" else None
            with contextlib.ExitStack() as stack:
                started = {
                    name: stack.enter_context(
                        server("ingest", db_url, folder, master_key, 1, variants[name])
                    )
                    for name in variants
                }
                sources = await make_sources(next(iter(started.values()))[0][0], token)
                for urls, procs in started.values():  # warm-up, not counted
                    await measure(
                        urls, [p.pid for p in procs], sources, config, paced=False, pg_url=pg
                    )
                off, on = tuple(variants)
                for round_ in range(even(rounds)):
                    for name in first(round_, (off, on)):
                        urls, procs = started[name]
                        pids = [p.pid for p in procs]
                        measured = await measure(
                            urls, pids, sources, config, paced=bool(config.rate), pg_url=pg
                        )
                        rates[name].append(measured.rate)
                        cpus[name].append(measured.cpu_us)
                        p99s[name].append(measured.p99_ms)
                        print(
                            f"  {backend} {what} {name}: {measured.rate:,.0f}/s,"
                            f" {measured.cpu_us:,.0f} us CPU per request (server and"
                            f" database), p99 {measured.p99_ms:.1f} ms; load average"
                            f" {loadavg()}\n    [{measured.note}]",
                            flush=True,
                        )
        for label, paired in (
            ("req/s", Paired.of(rates["off"], rates["on"], higher_is_worse=False)),
            ("CPU per request", Paired.of(cpus["off"], cpus["on"], higher_is_worse=True)),
        ):
            print(
                f"{backend:10} {what} cost, {label}: median {paired.median:+.1f} %"
                f" (target <= {target_pct:.0f} %: {paired.verdict(target_pct)}); {paired.note()}",
                flush=True,
            )
        for name in variants:
            print(
                f"{backend:10} {what} {name}: median {median(rates[name]):,.0f}/s"
                f" [{', '.join(f'{r:,.0f}' for r in rates[name])}], p99 median"
                f" {median(p99s[name]):.1f} ms [{', '.join(f'{p:.1f}' for p in p99s[name])}]",
                flush=True,
            )


async def scale_out(args: argparse.Namespace, config: Config, master_key: str) -> None:
    """``--servers N``: max verified ingests/s with 1, 2, ... N server processes on one
    PostgreSQL database, each on its own port, the load spread over them in turn, in
    ``--rounds`` rounds alternating the order of N; per N, requests/s and CPU per request (the
    server processes and PostgreSQL's backends), each with its ratio to one process."""
    counts = list(range(1, args.servers + 1))
    runs: dict[int, list[Measured]] = {n: [] for n in counts}
    async with fresh_database_url("postgresql", args.postgres_url) as (db_url, folder):
        token = await prepare(db_url)
        sources: dict[str, str] | None = None
        for round_ in range(args.rounds):
            for n in counts if round_ % 2 == 0 else counts[::-1]:
                with server("ingest", db_url, folder, master_key, n) as (urls, procs):
                    sources = sources or await make_sources(urls[0], token)
                    pids = [p.pid for p in procs]
                    print(f"\n== {n} server process(es), load average {loadavg()} ==", flush=True)
                    measured = await measure(
                        urls, pids, sources, config, paced=False, pg_url=db_url
                    )
                    show("max throughput", measured)
                    runs[n].append(measured)
    rows: list[tuple[int, list[float | int]]] = []
    for n in counts:
        done = runs[n]
        rate = sum(m.rate for m in done) / len(done)
        cpu_us = sum(m.cpu_us * m.ok for m in done) / max(sum(m.ok for m in done), 1)
        p99 = max(m.p99_ms for m in done)
        rows.append((n, [rate, cpu_us, p99]))
    print("\nPostgreSQL, max throughput per number of server processes:")
    print(scale_table("servers", ["verified/s", "CPU us per request", "p99 ms"], rows, ratios=2))


async def run(args: argparse.Namespace, config: Config) -> None:
    if args.servers > 1:
        for line in machine(PACKAGES):
            print(line)
        master_key = __import__("base64").urlsafe_b64encode(secrets.token_bytes(32)).decode()
        await scale_out(args, config, master_key)
        print(f"load average at the end: {loadavg()}")
        return
    if args.costs or args.ab_rounds:
        for line in machine(PACKAGES):
            print(line)
        print(f"load average at the start: {loadavg()}")
        master_key = __import__("base64").urlsafe_b64encode(secrets.token_bytes(32)).decode()
        if "metrics" in args.costs:  # metrics on (the default) against off; no tracing
            metrics = {"RAMPWIRE_METRICS": "1"}
            await switched_cost(args, config, master_key, "metrics", metrics, 3.0)
        if "tracing" in args.costs:  # at 10 % sampling, exported over OTLP/HTTP; metrics on
            with otlp_sink() as sink:
                traced = {
                    "RAMPWIRE_TRACING_SAMPLE": "0.1",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
                }
                await switched_cost(args, config, master_key, "tracing", traced, 10.0)
        if args.ab_rounds:  # "off": --against's tree (or this one); "on": this one, --ab-env
            base = {"PYTHONPATH": str(Path(args.against) / "src")} if args.against else {}
            extra = dict(pair.split("=", 1) for pair in args.ab_env)
            ab = {"off": base, "on": extra}
            await cost(args, config, master_key, "a/b", ab, args.ab_rounds, 0.0)
        print(f"load average at the end: {loadavg()}")
        return
    for line in machine(PACKAGES):
        print(line)
    print(f"load average at the start: {loadavg()}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    master_key = __import__("base64").urlsafe_b64encode(secrets.token_bytes(32)).decode()
    summary: list[str] = []
    bare: Measured | None = None
    plural = "one server process"
    with server("bare", "", tempfile.gettempdir(), master_key) as (urls, procs):
        print(f"\n== bare ASGI app (uvicorn + uvloop + httptools), {plural}, same client ==")
        pids = [p.pid for p in procs]
        bare = await peak(urls, pids, {"transak": "x", "revolut": "y"}, config, pg_url=None)
        show("max throughput", bare)
    for backend in backends:
        async with fresh_database_url(backend, args.postgres_url) as (db_url, folder):
            token = await prepare(db_url)
            with server("ingest", db_url, folder, master_key) as (urls, procs):
                pids = [p.pid for p in procs]
                sources = await make_sources(urls[0], token)
                pg = db_url if backend == "postgresql" else None
                print(f"\n== ingest on {backend}, {plural} ==", flush=True)
                flood = await peak(urls, pids, sources, config, pg_url=pg)
                ratio = flood.rate / bare.rate if bare.rate else 0.0
                met = ratio >= TARGETS["max_over_bare"]
                show(
                    "max throughput",
                    flood,
                    f" ({ratio:.3f} x the bare app; target >= {TARGETS['max_over_bare']} x on"
                    f" PostgreSQL: {'MET' if met else 'NOT MET'})"
                    if pg
                    else f" ({ratio:.3f} x the bare app)",
                )
                rate = config.rate or max(flood.rate / 2, 1.0)  # default: half of its max
                pace = replace(config, rate=rate)
                paced = await measure(urls, pids, sources, pace, paced=True, pg_url=pg)
                achieved = paced.rate  # answered per second while it ran, drain included
                p99_met = paced.p99_ms <= TARGETS["p99_ms"] and achieved >= 0.95 * rate
                show(
                    f"paced at {rate:,.0f}/s offered ({achieved:,.0f}/s achieved)",
                    paced,
                    f" (target p99 <= {TARGETS['p99_ms']:.0f} ms at the offered rate, half of"
                    f" the max unless --rate: {'MET' if p99_met else 'NOT MET'})",
                )
                summary.append(
                    f"{backend:10} max {flood.rate:8,.0f}/s p50 {flood.p50_ms:6.1f} ms"
                    f" p99 {flood.p99_ms:6.1f} ms | @{rate:,.0f}/s offered:"
                    f" {achieved:6,.0f}/s p50 {paced.p50_ms:6.1f} ms p99 {paced.p99_ms:7.1f} ms"
                    f" | ingest/bare {ratio:.3f}"
                )
    print(
        f"\nbare       max {bare.rate:8,.0f}/s p50 {bare.p50_ms:6.1f} ms p99 {bare.p99_ms:6.1f} ms"
    )
    for line in summary:
        print(line)
    print(f"load average at the end: {loadavg()}")


def main() -> None:
    defaults = Config()
    parser = argparse.ArgumentParser(description="rampwire ingest benchmark")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=defaults.requests)
    parser.add_argument("--duration", type=float, default=defaults.duration)
    parser.add_argument(
        "--rate", type=float, default=defaults.rate, help="paced: offered/s (default: half the max)"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=defaults.in_flight,
        help="requests in flight at most, where one level is used (--servers, --costs,"
        " --ab-rounds; paced: at least 256)",
    )
    parser.add_argument(
        "--peak-levels",
        type=lambda text: tuple(int(part) for part in text.split(",") if part),
        default=defaults.peak_levels,
        help="max throughput: the levels in flight tried, comma-separated; the best is the max",
    )
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="scale-out on PostgreSQL: max throughput with 1 .. N server processes, each on its"
        " own port, the load spread over them (only that)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="--servers: rounds, alternating the order of N"
    )
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument(
        "--costs",
        type=lambda text: [part for part in text.split(",") if part],
        default=[],
        help="measure only the cost of metrics and/or tracing (10 %% sampling), comma-separated:"
        " one flood each, switched off and on every --slice seconds, --pairs pairs",
    )
    parser.add_argument(
        "--pairs", type=int, default=60, help="--costs: pairs of slices (off, on) per run"
    )
    parser.add_argument(
        "--slice", type=float, default=1.0, help="--costs: seconds each way in a pair"
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="--costs: off both ways (an A/A run: the bench's own bias)",
    )
    parser.add_argument(
        "--ab-rounds",
        type=int,
        default=0,
        help="measure only max throughput (with --rate: paced at that rate) and CPU per request"
        " of two servers, alternating: 'off' runs --against's source tree (a `git archive` of"
        " another commit), 'on' this one",
    )
    parser.add_argument("--against", default="", help="--ab-rounds: the other tree's root")
    parser.add_argument(
        "--ab-env", action="append", default=[], help="--ab-rounds: KEY=VALUE for 'on' only"
    )
    # internal: the child processes
    parser.add_argument("--role", choices=["main", "server", "load"], default="main")
    parser.add_argument("--app", default="ingest")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spec", default="")
    args = parser.parse_args()
    if args.role == "server":
        run_server(args.app, args.database_url, args.data_dir, args.port)
        return
    if args.role == "load":
        run_load(args.spec)
        return
    config = Config(
        requests=args.requests,
        duration=args.duration,
        rate=args.rate,
        in_flight=args.in_flight,
        peak_levels=args.peak_levels,
    )
    started = time.perf_counter()
    uvloop.run(run(args, config))
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
