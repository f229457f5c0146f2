"""Memory of a ``rampwire serve`` process under rounds of saturation and idle: does its RSS climb
round after round (a leak) or level off (caches and the allocator's high-water mark)?

    .venv/bin/python bench/memory.py [--backend sqlite|postgresql|both] [--rounds 4]
        [--orders 2000] [--ingests 4000] [--in-flight 64] [--idle 20] [--probe] [--trim]

Per back-end (a fresh database each: a temporary SQLite file, or a PostgreSQL database
``rampwire_bench_<random>`` dropped at the end): the real ``rampwire serve`` command in its own
process (uvicorn, uvloop, the app with its in-process delivery worker), two ``standard``
endpoints pointing at a local receiver (bench/_receiver.py), a Transak and a Revolut source.
Each round, a load generator in its own process sends, ``--in-flight`` at a time, ``--orders``
order creates each followed by two changes, and beside them ``--ingests`` pre-signed provider
webhooks (each a new order); then the deliveries drain (the receiver's count stops moving) and
the server idles ``--idle`` seconds. The server's VmRSS (``/proc/PID/status``) is sampled every
second; per round: before, peak, after the drain, after the idle.

``--probe`` loads bench/memory_probe into the server (``sitecustomize``): after each round it
reports the live objects by type, the caches' sizes, glibc's free-but-kept bytes and SQLite's own
memory; with ``BENCH_TRACEMALLOC=1`` also the Python allocations that grew since the previous
round. ``--trim`` (with ``--probe``) calls ``malloc_trim(0)`` in the server after each idle and
reports RSS after it. Extra variables for the server (``MALLOC_ARENA_MAX=2``, ``RAMPWIRE_*``)
pass through from this process's environment.

Every loop has a count and a deadline; every process started is stopped by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from ingest import PG_ADMIN_URL, free_port, fresh_database, machine, make_sources, presign

BENCH = Path(__file__).resolve().parent
START_S = 60.0  # for the server, the receiver or the load generator to be ready
STOP_S = 10.0  # for a process to exit after SIGTERM
LOAD_S = 300.0  # a round's load, at most
DRAIN_S = 120.0  # for deliveries to drain after the load, at most
SETTLED_S = 2.0  # the receiver's count unchanged this long: drained
PROBE_S = 60.0  # for the probe to answer
ORDER_BODY = {
    "side": "buy",
    "fiat": {"currency": "EUR", "amount": "100.00"},
    "crypto": {"asset": "USDC", "network": "ETHEREUM"},
    "wallet_address": "0x2f1b6e5c6a0b5c3d9e8f7a6b5c4d3e2f1a0b9c8d",
    "references": {"user_email": "ana@example.com"},
}
CHANGES = (
    {"status": "payment_received"},
    {
        "status": "completed",
        "set": {
            "crypto": {"asset": "USDC", "network": "ETHEREUM", "amount": "99.10"},
            "transaction_hash": "0x9f3c",
        },
    },
)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Child:
    """A process of this benchmark, reading its stdout lines; stopped by its pid."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.errors = tempfile.TemporaryFile(mode="w+")  # stderr, shown if it fails to start
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env={**os.environ, **(env or {})},
            text=True,
        )
        # Lines are read by a thread: a select() on the pipe would miss lines already buffered.
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The first stdout line starting with ``prefix``; lines before it are skipped."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Empty):
            while (left := deadline - time.monotonic()) > 0:
                line = self._lines.get(timeout=left)
                if line is None:  # end of output
                    break
                if line.startswith(prefix):
                    return line.strip()
        self.errors.seek(0)
        tail = "".join(self.errors.readlines()[-20:])
        raise RuntimeError(f"{self.proc.args[:4]}: no {prefix!r} line in {timeout:.0f} s\n{tail}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_S)
        self.errors.close()


# --- load generator process -----------------------------------------------------------------


async def fire(spec: dict[str, Any], ingests: list[tuple[str, dict[str, str], bytes]]) -> dict:
    statuses: dict[str, int] = {}
    errors = 0
    in_flight = spec["in_flight"]
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=2 * in_flight, limit_per_host=2 * in_flight)
    headers = {"Authorization": f"Bearer {spec['token']}"}
    deadline = time.monotonic() + LOAD_S

    async with aiohttp.ClientSession(spec["url"], connector=connector, timeout=timeout) as http:

        async def post(path: str, **kwargs: Any) -> Any:
            nonlocal errors
            try:
                async with http.post(path, **kwargs) as response:
                    body = await response.read()
                    key = str(response.status)
                    statuses[key] = statuses.get(key, 0) + 1
                    return json.loads(body) if response.status == 201 else None
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                return None

        orders = iter(range(spec["orders"]))
        queue = iter(ingests)

        async def order_loop() -> None:
            for _ in orders:
                if time.monotonic() > deadline:
                    return
                made = await post("/v1/orders", json=ORDER_BODY, headers=headers)
                if made is None:
                    continue
                for change in CHANGES:
                    await post(f"/v1/orders/{made['id']}/changes", json=change, headers=headers)

        async def ingest_loop() -> None:
            for path, signed, body in queue:
                if time.monotonic() > deadline:
                    return
                await post(path, data=body, headers=signed)

        started = time.monotonic()
        half = max(1, in_flight // 2)
        await asyncio.gather(
            *(order_loop() for _ in range(half)), *(ingest_loop() for _ in range(half))
        )
    return {"statuses": statuses, "errors": errors, "elapsed": time.monotonic() - started}


def run_load(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    ingests = presign(spec["ingests"], spec["sources"])
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return
    print("DONE " + json.dumps(uvloop.run(fire(spec, ingests))), flush=True)


# --- the server and its probe ---------------------------------------------------------------


@dataclass
class Server:
    child: Child
    url: str
    token: str
    probe_dir: str | None
    samples: list[tuple[float, int]] = field(default_factory=list)

    def sample(self) -> int:
        rss = rss_kib(self.child.pid)
        self.samples.append((time.monotonic(), rss))
        return rss

    async def ask(self, command: str) -> dict[str, Any]:
        if self.probe_dir is None:
            return {}
        response = Path(self.probe_dir) / "response"
        with contextlib.suppress(FileNotFoundError):
            response.unlink()
        (Path(self.probe_dir) / "request").write_text(command)
        deadline = time.monotonic() + PROBE_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            with contextlib.suppress(FileNotFoundError):
                return dict(json.loads(response.read_text()))
        raise RuntimeError(f"the probe did not answer {command!r}")


@contextlib.asynccontextmanager
async def serve(database_url: str, folder: str, probe: bool) -> Any:
    port = free_port()
    env = {
        "RAMPWIRE_DATABASE_URL": database_url,
        "RAMPWIRE_DATA_DIR": folder,
        "RAMPWIRE_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "RAMPWIRE_ALLOW_PRIVATE_TARGETS": "1",  # the receiver is on 127.0.0.1
        "RAMPWIRE_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",  # the key line arrives while the server runs
    }
    probe_dir = None
    if probe:
        probe_dir = tempfile.mkdtemp(prefix="rampwire_probe_")
        env |= {"PYTHONPATH": str(BENCH / "memory_probe"), "BENCH_PROBE_DIR": probe_dir}
    command = [sys.executable, "-m", "rampwire", "serve", "--host", "127.0.0.1"]
    child = Child([*command, "--port", str(port)], env=env)
    try:
        token = child.wait_for("admin API key", START_S).rsplit(" ", 1)[1]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_S
        async with aiohttp.ClientSession(url) as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get("/healthz") as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not answer /healthz")
                await asyncio.sleep(0.2)
        yield Server(child, url, token, probe_dir)
    finally:
        child.stop()
        if probe_dir is not None:
            for name in ("request", "response", "response.part"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(Path(probe_dir) / name)
            os.rmdir(probe_dir)


async def receiver_count(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/__stats") as response:
        return int((await response.json())["count"])


async def round_of_load(
    server: Server, receiver: str, sources: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    handle, spec_path = tempfile.mkstemp(prefix="rampwire_bench_", suffix=".json")
    os.close(handle)
    spec = {
        "url": server.url,
        "token": server.token,
        "sources": sources,
        "orders": args.orders,
        "ingests": args.ingests,
        "in_flight": args.in_flight,
    }
    Path(spec_path).write_text(json.dumps(spec))
    load = Child([sys.executable, __file__, "--role", "load", "--spec", spec_path])
    try:
        load.wait_for("READY", START_S)
        before = server.sample()
        load.send("GO")
        peak = before
        waiter = asyncio.create_task(asyncio.to_thread(load.wait_for, "DONE", LOAD_S + 30))
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=1.0)
            peak = max(peak, server.sample())
        result = json.loads(waiter.result().split(" ", 1)[1])
    finally:
        load.stop()
        os.unlink(spec_path)
    count, still = await receiver_count(receiver), time.monotonic()
    deadline = still + DRAIN_S
    while time.monotonic() < deadline and time.monotonic() - still < SETTLED_S:
        await asyncio.sleep(0.5)
        peak = max(peak, server.sample())
        if (now := await receiver_count(receiver)) != count:
            count, still = now, time.monotonic()
    drained = server.sample()
    idle_end = time.monotonic() + args.idle
    while time.monotonic() < idle_end:
        await asyncio.sleep(1.0)
        server.sample()
    return {
        "load": result,
        "delivered": count,
        "before": before,
        "peak": max(peak, drained),
        "drained": drained,
        "idle": server.sample(),
    }


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


async def run_backend(backend: str, receiver: str, args: argparse.Namespace) -> list[str]:
    lines = []
    async with (
        fresh_database(backend, args.postgres_url) as (db_url, folder),
        serve(db_url, folder, args.probe) as server,
    ):
        sources = await make_sources(server.url, server.token)
        headers = {"Authorization": f"Bearer {server.token}"}
        async with aiohttp.ClientSession(server.url, headers=headers) as http:
            for _ in range(2):
                body = {"url": f"{receiver}/hooks"}
                async with http.post("/v1/endpoints", json=body) as response:
                    if response.status != 201:
                        raise RuntimeError(f"POST /v1/endpoints: {response.status}")
        started = server.sample()
        print(f"\n== rampwire serve on {backend} (pid {server.child.pid}) ==")
        print(f"  after start-up and set-up: RSS {mib(started)} MiB", flush=True)
        reports = [await server.ask("report")] if args.probe else []
        for number in range(1, args.rounds + 1):
            got = await round_of_load(server, receiver, sources, args)
            line = (
                f"  round {number}: RSS MiB before {mib(got['before'])}, peak {mib(got['peak'])},"
                f" drained {mib(got['drained'])}, after {args.idle:.0f} s idle {mib(got['idle'])}"
                f" | {got['load']['elapsed']:.1f} s load, answers {got['load']['statuses']},"
                f" errors {got['load']['errors']}, delivered so far {got['delivered']:,}"
            )
            if args.trim:
                trimmed = await server.ask("trim")
                line += f" | malloc_trim(0): {mib(trimmed['after_kib']['VmRSS'])} MiB"
            print(line, flush=True)
            lines.append(f"{backend:10}" + line.strip())
            if args.probe:
                reports.append(await server.ask("report"))
                show_report(reports[-1], reports[-2])
    return lines


def show_report(now: dict[str, Any], before: dict[str, Any]) -> None:
    rss = now["rss_kib"]
    malloc = now["malloc"]
    print(
        f"    probe: RSS {mib(rss['VmRSS'])} MiB (anon {mib(rss['RssAnon'])}),"
        f" glibc heap {malloc.get('heap_bytes', 0) / 2**20:.1f} MiB of which in use"
        f" {malloc.get('in_use_bytes', 0) / 2**20:.1f}, free but kept"
        f" {malloc.get('free_in_heap_bytes', 0) / 2**20:.1f};"
        f" SQLite {(now['sqlite_memory_used'] or 0) / 2**20:.1f} MiB;"
        f" gc objects {now['gc_objects']:,} ({now['gc_objects'] - before['gc_objects']:+,})"
    )
    was = dict(before["types"])
    grown = [
        f"{name} {count:,} ({count - was.get(name, 0):+,})" for name, count in now["types"][:12]
    ]
    print("    types: " + ", ".join(grown))
    print("    caches: " + json.dumps(now["caches"]))
    if "traced_bytes" in now:
        print(f"    tracemalloc: {now['traced_bytes'] / 2**20:.1f} MiB traced; grew:")
        for stat in now.get("traced_growth", [])[:12]:
            print(f"      {stat}")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> None:
    for line in machine():
        print(line)
    arena = os.environ.get("MALLOC_ARENA_MAX", "glibc's default")
    print(
        f"MALLOC_ARENA_MAX: {arena}; rounds {args.rounds} x ({args.orders:,} orders x 3 writes"
        f" + {args.ingests:,} ingests), {args.in_flight} in flight, {args.idle:.0f} s idle,"
        f" receiver answers after {args.receiver_delay:.2f} s"
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    delay = ["--delay", str(args.receiver_delay)] if args.receiver_delay else []
    receiver = Child([sys.executable, str(BENCH / "_receiver.py"), "--port", "0", *delay])
    summary: list[str] = []
    try:
        port = receiver.wait_for("READY", START_S).split()[1]
        for backend in backends:
            summary += await run_backend(backend, f"http://127.0.0.1:{port}", args)
    finally:
        receiver.stop()
    print()
    for line in summary:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description="rampwire serve memory under rounds of load")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--orders", type=int, default=2_000, help="per round, 3 writes each")
    parser.add_argument("--ingests", type=int, default=4_000, help="per round")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds after each round")
    parser.add_argument(
        "--receiver-delay", type=float, default=0.0, help="seconds before each webhook's answer"
    )
    parser.add_argument("--probe", action="store_true", help="load bench/memory_probe")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after each idle")
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument("--role", choices=["main", "load"], default="main")
    parser.add_argument("--spec", default="")
    args = parser.parse_args()
    if args.role == "load":
        run_load(args.spec)
        return
    if args.trim and not args.probe:
        parser.error("--trim needs --probe")
    started = time.perf_counter()
    uvloop.run(run(args))
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
