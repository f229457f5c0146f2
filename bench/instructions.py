"""Instructions per delivery and per ingest request, metrics off and on, counted by valgrind's
callgrind: a figure that other load on the machine does not move, for costs (such as metrics')
too small for the alternating rate windows of ``delivery.py`` and ``ingest.py`` to resolve.

    cd bench && ../.venv/bin/python instructions.py [--part hooks (default)|worker|ingest|all]
        [--backend sqlite|postgresql|both] [--events 2000] [--requests 1000] [--rounds 2]
        [--toggle metrics (default)|tracing]  (the ingest part: what is off and on)
        [--keep DIR]  (each worker or ingest run's callgrind file, for ``callgrind_annotate``)

What is counted, and what is not:

- worker: one database is prepared with ``--events`` queued orders (one delivery each, to a
  receiver on 127.0.0.1), then copied once per run (a file copy on SQLite, ``CREATE DATABASE
  ... TEMPLATE`` on PostgreSQL), so every run drains the same rows. Each run is a process under
  callgrind that opens the copy, builds a ``Worker`` (metrics off or on; tracing off) and
  counts instructions only from the worker's start until every delivery is recorded
  (``callgrind_control -i on|off`` from inside the process: imports and setup are not
  counted). The lease is long enough that no renewal falls in a run.
- ingest: a server process as ``bench/ingest.py`` runs it (``RAMPWIRE_SERVE_WORKER=0``: no
  delivery worker polling on a clock), under callgrind, on a copy of one prepared database;
  ``--requests`` pre-signed requests, 16 at a time, from a load generator outside valgrind;
  instructions counted only while they are sent (``callgrind_control`` from this script).
- hooks: the metrics calls alone, as the worker and the ingest server make them (a delivery
  attempt counted; an inbound request counted and its verification timed; a group commit
  observed), ``--calls`` times in a process under callgrind, metrics off and on; instructions
  per call = (instructions of N calls - of 0 calls) / N. Exact and repeatable: the metrics'
  own work per delivery or request, against which the runs above give the whole.

The worker and ingest parts count every thread of the measured process (aiosqlite's too), not
the PostgreSQL backends, the receiver or the load generator. They are not deterministic: under
valgrind the process runs 50 to 100 times slower while the receiver and the database do not,
so batching (claims, record transactions, group commits) follows the clock and differs from
run to run, as do wake-ups on a timer; each run prints its batches, and the variants
alternate over ``--rounds`` rounds. The hooks part is the exact one. The figure is
instructions, not time: an instruction of the metrics code and one of the database driver do
not cost the same, so this measures the work metrics add, not deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from statistics import median

import asyncpg
import uvloop
from harness.databases import ADMIN_TIMEOUT_S, PG_ADMIN_URL
from harness.receiver import ReceiverProcess
from harness.report import loadavg, machine

HERE = Path(__file__).resolve().parent
SINK: list[str] = []  # --toggle tracing: the OTLP collector stand-in's URL
RUN_DEADLINE_S = 900.0  # one run under callgrind (Python runs 50 to 100 times slower)
START_S = 600.0  # a server under valgrind to be ready
IN_FLIGHT = 16  # ingest requests at a time
CONCURRENCY = 256  # the worker's, and the endpoint's max_in_flight (delivery.py's default)


def callgrind(pid: int, on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(pid)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def valgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def total(out: Path) -> int:
    """Instructions counted, every thread's (callgrind writes them together by default)."""
    match = re.search(r"^totals: (\d+)", out.read_text(errors="replace"), re.M)
    if match is None:
        raise RuntimeError(f"no totals in {out}")
    return int(match.group(1))


# --- the hooks alone -----------------------------------------------------------------------------


HOOKS = ("attempt", "ingest request", "group commit")


def hook_calls(hook: str, metrics: bool, calls: int) -> None:
    """In the measured process: ``calls`` calls of one hook, counting only those."""
    from rampwire.metrics import Metrics

    m = Metrics(enabled=metrics)

    def attempt() -> None:
        m.attempted(
            status="succeeded", dialect="standard", error_class=None, seconds=0.01, partner=None
        )

    def ingest() -> None:
        m.verified(provider="revolut", seconds=0.0002)
        m.ingested(source="src_01", outcome="applied", partner=None)

    def commit() -> None:
        m.committed(writer="ingest", size=16, seconds=0.002)

    call = {"attempt": attempt, "ingest request": ingest, "group commit": commit}[hook]
    for _ in range(1000):  # the first calls make the label values' series
        call()
    callgrind(os.getpid(), True)
    for _ in range(calls):
        call()
    callgrind(os.getpid(), False)


def hooks_part(args: argparse.Namespace) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = []
    folder = tempfile.mkdtemp(prefix="rampwire_instr_")
    try:
        for hook in HOOKS:
            for variant in ("off", "on"):
                counted = {}
                for calls in (0, args.calls):
                    out = Path(folder) / f"hook.{calls}.out"
                    command = [*valgrind(out), sys.executable, __file__, "--role", "hook"]
                    command += ["--hook", hook, "--metrics", variant, "--calls", str(calls)]
                    subprocess.run(command, check=True, capture_output=True, timeout=600)
                    counted[calls] = total(out)
                per = (counted[args.calls] - counted[0]) / args.calls
                runs.append({"part": "hooks", "backend": hook, "metrics": variant, "per": per})
                print(f"  {hook}, metrics {variant}: {per:,.0f} instructions per call", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return runs


# --- the worker ---------------------------------------------------------------------------------


async def drain(url: str, key: str, count: int, metrics: bool) -> dict[str, int]:
    """In the measured process: drain ``count`` deliveries, counting only the worker's run."""
    from harness.workload import count_succeeded

    from rampwire.crypto import SecretBox
    from rampwire.metrics import Metrics
    from rampwire.services.worker import Worker, WorkerOptions
    from rampwire.ssrf import TargetPolicy
    from rampwire.storage import open_database

    db = open_database(url)
    await db.open()
    async with db.connection() as conn:
        endpoint_id = await conn.fetchval("SELECT id FROM endpoints LIMIT 1")
    worker = Worker(
        db,
        SecretBox(bytes.fromhex(key)),
        policy=TargetPolicy(allow_private=True),
        options=WorkerOptions(concurrency=CONCURRENCY, lease=timedelta(hours=1)),
        metrics=Metrics(enabled=metrics),
    )
    stop = asyncio.Event()
    callgrind(os.getpid(), True)
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + RUN_DEADLINE_S
    while worker.sent < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    while await count_succeeded(db, endpoint_id) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    callgrind(os.getpid(), False)
    done = await count_succeeded(db, endpoint_id)
    await db.close()
    return {
        "sent": worker.sent,
        "claims": worker.claims,
        "records": worker.record_batches,
        "done": done,
    }


async def prepare_worker(url: str, key: bytes, receiver: str, count: int) -> None:
    from harness.workload import make_endpoint, queue_orders

    from rampwire.crypto import SecretBox
    from rampwire.repository import OrderRepository
    from rampwire.repository.endpoints import EndpointRepository
    from rampwire.storage import migrate, open_database

    db = open_database(url)
    await db.open()
    try:
        await migrate(db)
        await make_endpoint(EndpointRepository(db, SecretBox(key)), receiver, CONCURRENCY)
        await queue_orders(OrderRepository(db), count)
        if db.dialect == "postgresql":
            async with db.connection() as conn:
                await conn.execute("ANALYZE")
    finally:
        await db.close()


# --- databases: one prepared, a copy per run ----------------------------------------------------


class Copies:
    """A prepared database and a fresh copy of it per run, all removed at the end."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.folder = tempfile.mkdtemp(prefix="rampwire_instr_")
        self.name = f"rampwire_instr_{secrets.token_hex(6)}"
        self.made: list[str] = []

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.folder}/{name}/rampwire.db"
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    async def _admin(self, sql: str) -> None:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=ADMIN_TIMEOUT_S)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    async def base(self) -> str:
        os.makedirs(f"{self.folder}/{self.name}")
        if self.backend == "postgresql":
            await self._admin(f"CREATE DATABASE {self.name}")
            self.made.append(self.name)
        return self.url(self.name)

    async def copy(self, run: int) -> tuple[str, str]:
        """(URL, data directory) of a new copy of the prepared database."""
        name = f"{self.name}_{run}"
        shutil.copytree(f"{self.folder}/{self.name}", f"{self.folder}/{name}")
        if self.backend == "postgresql":
            await self._admin(f"CREATE DATABASE {name} TEMPLATE {self.name}")
            self.made.append(name)
        return self.url(name), f"{self.folder}/{name}"

    async def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        for name in reversed(self.made):
            await self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- runs ---------------------------------------------------------------------------------------


def alternating(rounds: int) -> list[str]:
    order: list[str] = []
    for round_ in range(rounds):
        order += ["off", "on"] if round_ % 2 == 0 else ["on", "off"]
    return order


async def worker_part(backend: str, args: argparse.Namespace) -> list[dict[str, object]]:
    key = secrets.token_bytes(32)
    receiver = ReceiverProcess(0.0)
    copies = Copies(backend)
    runs: list[dict[str, object]] = []
    try:
        receiver.start()
        await prepare_worker(await copies.base(), key, receiver.url, args.events)
        for index, variant in enumerate(alternating(args.rounds)):
            url, _ = await copies.copy(index)
            out = Path(copies.folder) / f"worker.{index}.out"
            command = [*valgrind(out), sys.executable, __file__, "--role", "drain"]
            command += ["--url", url, "--key", key.hex(), "--events", str(args.events)]
            command += ["--metrics", variant]
            started = time.monotonic()
            proc = subprocess.run(command, capture_output=True, text=True, timeout=RUN_DEADLINE_S)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"the drain failed: {proc.stderr[-2000:]}")
            found = json.loads(lines[-1])
            instructions = total(out)
            kept(args, out, f"worker.{backend}.{index}.metrics-{variant}")
            runs.append(
                {
                    "part": "worker",
                    "backend": backend,
                    "metrics": variant,
                    "instructions": instructions,
                    "per": instructions / found["done"],
                    **found,
                }
            )
            print(
                f"  worker {backend} metrics {variant}: {instructions / found['done']:,.0f}"
                f" instructions per delivery ({found['done']:,} delivered, {found['claims']}"
                f" claims, {found['records']} record transactions; {time.monotonic() - started:.0f}"
                f" s under valgrind; load average {loadavg()})",
                flush=True,
            )
    finally:
        receiver.stop()
        await copies.remove()
    return runs


def kept(args: argparse.Namespace, out: Path, name: str) -> None:
    """A run's callgrind file copied to ``--keep`` (read it with ``callgrind_annotate``), before
    the run's folder is removed."""
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        shutil.copy(out, Path(args.keep) / f"callgrind.{name}.out")


def toggled(args: argparse.Namespace, on: bool) -> dict[str, str]:
    """The ingest server's environment for ``--toggle``: metrics off or on (tracing off), or
    tracing off or at 10 % sampling exported to :data:`SINK` (metrics on in both)."""
    if args.toggle == "metrics":
        return {"RAMPWIRE_METRICS": "1" if on else "0"}
    traced = {"RAMPWIRE_TRACING_SAMPLE": "0.1", "OTEL_EXPORTER_OTLP_ENDPOINT": SINK[0]}
    return {"RAMPWIRE_METRICS": "1", **(traced if on else {})}


async def ingest_part(backend: str, args: argparse.Namespace) -> list[dict[str, object]]:
    import base64

    from ingest import Process, free_port, make_sources, prepare, server

    master_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    copies = Copies(backend)
    runs: list[dict[str, object]] = []
    try:
        base = await copies.base()
        token = await prepare(base)
        folder = f"{copies.folder}/{copies.name}"  # the SQLite file's too: copied with it
        with server("ingest", base, folder, master_key) as (urls, _):
            sources = await make_sources(urls[0], token)
        for index, variant in enumerate(alternating(args.rounds)):
            url, data_dir = await copies.copy(index)
            out = Path(copies.folder) / f"ingest.{index}.out"
            port = free_port()
            env = {
                **os.environ,
                "BENCH_MASTER_KEY": master_key,
                "RAMPWIRE_SERVE_WORKER": "0",
                **toggled(args, variant == "on"),
            }
            command = [*valgrind(out), sys.executable, str(HERE / "ingest.py"), "--role", "server"]
            command += ["--app", "ingest", "--database-url", url, "--data-dir", data_dir]
            command += ["--port", str(port)]
            started = time.monotonic()
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stdin=subprocess.PIPE)
            try:
                await wait_ready(port)
                spec_path = Path(copies.folder) / f"load.{index}.json"
                result_path = Path(copies.folder) / f"load.{index}.out.json"
                spec = {
                    "urls": [f"http://127.0.0.1:{port}"],
                    "sources": sources,
                    "count": args.requests,
                    "duration": RUN_DEADLINE_S,
                    "rate": 0.0,
                    "in_flight": IN_FLIGHT,
                    "out": str(result_path),
                }
                spec_path.write_text(json.dumps(spec))
                load = Process(["--role", "load", "--spec", str(spec_path)])
                try:
                    if load.read_line(120.0) != "READY":
                        raise RuntimeError("the load generator did not get ready")
                    callgrind(proc.pid, True)
                    load.write_line("GO")
                    if await asyncio.to_thread(load.read_line, RUN_DEADLINE_S) != "DONE":
                        raise RuntimeError("the load generator did not finish")
                    callgrind(proc.pid, False)
                finally:
                    load.stop()
                result = json.loads(result_path.read_text())
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=120)
                    except subprocess.TimeoutExpired:
                        os.kill(proc.pid, signal.SIGKILL)
                        proc.wait(timeout=10)
            instructions = total(out)
            kept(args, out, f"ingest.{backend}.{index}.{args.toggle}-{variant}")
            ok = int(result["ok"])
            runs.append(
                {
                    "part": "ingest",
                    "backend": backend,
                    "metrics": variant,
                    "instructions": instructions,
                    "per": instructions / max(ok, 1),
                    "done": ok,
                    "statuses": result["statuses"],
                }
            )
            print(
                f"  ingest {backend} {args.toggle} {variant}: {instructions / max(ok, 1):,.0f}"
                f" instructions per request ({ok:,} answered 200 of {args.requests:,},"
                f" statuses {result['statuses']}; {time.monotonic() - started:.0f} s under"
                f" valgrind; load average {loadavg()})",
                flush=True,
            )
    finally:
        await copies.remove()
    return runs


async def wait_ready(port: int) -> None:
    """The server answers on its port (its own READY line gives up after 30 s; valgrind's
    start can take longer)."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("the server under valgrind did not start")


def summary(runs: list[dict[str, object]]) -> None:
    print("\npart   | back-end   | off (per unit)        | on (per unit)         | on adds")
    keys = sorted({(str(r["part"]), str(r["backend"])) for r in runs})
    for part, backend in keys:
        mine = [r for r in runs if r["part"] == part and r["backend"] == backend]
        per = {v: [float(r["per"]) for r in mine if r["metrics"] == v] for v in ("off", "on")}
        off, on = median(per["off"]), median(per["on"])
        spread = {v: ", ".join(f"{p:,.0f}" for p in per[v]) for v in per}
        print(
            f"{part:6} | {backend:10} | {off:,.0f} ({spread['off']}) | {on:,.0f} ({spread['on']})"
            f" | {on - off:+,.0f} per unit, {100 * (on / off - 1):+.2f} %"
        )


async def run(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    parts = ["hooks", "worker", "ingest"] if args.part == "all" else [args.part]
    runs: list[dict[str, object]] = []
    for part in parts:
        if part == "hooks":
            runs += hooks_part(args)
            continue
        for backend in backends:
            measure = worker_part if part == "worker" else ingest_part
            runs += await measure(backend, args)
    summary(runs)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="main", choices=["main", "drain", "hook"])
    # hooks by default: `make bench` runs this with its defaults, and the whole runs take 30 min
    parser.add_argument("--part", default="hooks", choices=["hooks", "worker", "ingest", "all"])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--events", type=int, default=2000, help="deliveries per worker run")
    parser.add_argument("--requests", type=int, default=1000, help="requests per ingest run")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs, order alternating")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per hook run")
    parser.add_argument("--hook", default="attempt", choices=HOOKS)
    parser.add_argument("--json", default="", help="write every run's figures here")
    parser.add_argument("--keep", default="", help="a folder to keep each run's callgrind file")
    parser.add_argument("--url", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--metrics", default="on", choices=["off", "on"])
    parser.add_argument(
        "--toggle",
        default="metrics",
        choices=["metrics", "tracing"],
        help="ingest part: what is off and on (tracing: at 10 %% sampling, metrics on)",
    )
    args = parser.parse_args()
    if args.role == "hook":
        hook_calls(args.hook, args.metrics == "on", args.calls)
        return
    if args.role == "drain":
        found = uvloop.run(drain(args.url, args.key, args.events, args.metrics == "on"))
        print(json.dumps(found), flush=True)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind (callgrind) is not installed: nothing counted")
        return
    for line in machine(("uvloop", "aiohttp", "asyncpg", "prometheus_client")):
        print(line)
    print(f"load average at the start: {loadavg()}", flush=True)
    if args.toggle != "tracing":
        uvloop.run(run(args))
        return
    from ingest import otlp_sink

    with otlp_sink() as sink:
        SINK.append(sink)
        uvloop.run(run(args))
    print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
