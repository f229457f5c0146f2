"""The procrastinate + aiohttp peer, driven from rampwire's benchmark process: the peer's own
programs (``procrastinate_peer.py``) run in its virtualenv as separate processes, on a fresh
PostgreSQL database beside rampwire's, against the same receiver. Its CPU is that of every peer
process and of the PostgreSQL backends serving its database."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cpu import CpuMeter, pid_cpu
from harness.databases import fresh_database_url
from harness.publisher import Backlog
from harness.receiver import ReceiverProcess
from latency import RATE, SECONDS, Latency, measured, read_stamps, stamps_file
from venvs import PROCRASTINATE

from rampwire.dialects import standard
from rampwire.storage import Database, open_database

PROGRAM = Path(__file__).with_name("procrastinate_peer.py")
DEADLINE_S = 120.0  # any one peer command, and the drain
STOP_S = 30.0


@dataclass
class Measured:
    rate: float  # deliveries/s
    done: int
    cpu_us: float  # CPU per delivery: the peer's processes and PostgreSQL
    note: str


class Process:
    """One peer program, started in the peer's virtualenv, stopped by pid."""

    def __init__(
        self, python: Path, *args: str, program: Path = PROGRAM, env: dict[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [str(python), str(program), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=program.parent,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def line(self) -> str:
        assert self.proc.stdout is not None
        read = asyncio.to_thread(self.proc.stdout.readline)
        return (await asyncio.wait_for(read, timeout=DEADLINE_S)).decode().strip()

    async def result(self) -> dict[str, Any]:
        """The JSON line the program prints last (after an optional ``stop`` on stdin)."""
        text = await self.line()
        await asyncio.to_thread(self.proc.wait, STOP_S)
        if not text.startswith("{"):
            raise RuntimeError(f"the peer program failed (exit {self.proc.returncode})")
        return dict(json.loads(text))

    def ask_stop(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


async def run_command(python: Path, *args: str) -> dict[str, Any]:
    process = Process(python, *args)
    try:
        return await process.result()
    finally:
        process.kill()


async def count_waiting(db: Database) -> int:
    """Jobs to do or being done: the backlog (as the peer's publisher counts it)."""
    async with db.connection() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            )
        )


async def count_succeeded(db: Database) -> int:
    async with db.connection() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            )
        )


@contextlib.asynccontextmanager
async def worker(
    python: Path, url: str, receiver: ReceiverProcess, concurrency: int
) -> AsyncIterator[Process]:
    secret = standard.generate_secret()
    process = Process(python, "worker", url, receiver.url, secret, str(concurrency))
    try:
        if await process.line() != "READY":
            raise RuntimeError("the procrastinate worker did not start")
        yield process
        process.ask_stop()
        await process.result()
    finally:
        process.kill()


class PeerCpu:
    """The peer processes' CPU over a measurement (sampled while they live)."""

    def __init__(self, processes: list[Process]) -> None:
        self._processes = processes
        self._start = [pid_cpu(p.pid) for p in processes]

    def spent(self) -> float:
        now = [pid_cpu(p.pid) for p in self._processes]
        return sum(b - a for a, b in zip(self._start, now, strict=True))


class ProcrastinatePeer:
    def __init__(self, admin_url: str, receiver: ReceiverProcess, concurrency: int) -> None:
        self.admin_url, self.receiver, self.concurrency = admin_url, receiver, concurrency
        self.python = PROCRASTINATE.python

    def prepare(self) -> None:
        self.python = PROCRASTINATE.ensure()

    @contextlib.asynccontextmanager
    async def database(self) -> AsyncIterator[tuple[str, Database]]:
        """A fresh database with procrastinate's schema, and a rampwire pool on it for
        counting and for reading the CPU of its backends."""
        async with fresh_database_url("postgresql", self.admin_url) as (url, _):
            await run_command(self.python, "setup", url)
            db = open_database(url)
            await db.open()
            try:
                yield url, db
            finally:
                await db.close()

    async def drain(self, count: int) -> Measured:
        async with self.database() as (url, db):
            queued = await run_command(self.python, "queue", url, str(count))
            async with worker(self.python, url, self.receiver, self.concurrency) as process:
                meter = CpuMeter(db, [])
                async with meter as cpu:
                    peer = PeerCpu([process])
                    deadline = time.perf_counter() + DEADLINE_S
                    done = 0
                    while done < count and time.perf_counter() < deadline:
                        await asyncio.sleep(0.02)
                        done = await count_succeeded(db)
                    elapsed = cpu.elapsed()
                    cpu.extra = peer.spent()
        total = cpu.extra + cpu.postgres
        return Measured(
            done / elapsed,
            done,
            total / max(done, 1) * 1e6,
            f"{done:,} of {count:,} in {elapsed:.2f} s; queued at {queued['rate']:,.0f}/s;"
            f" concurrency {self.concurrency}; {cpu.note().replace('publisher', 'peer')}",
        )

    async def sustained(
        self, warmup: float, window: float, tasks: int, max_backlog: int, publishers: int
    ) -> Measured:
        """Deliveries/s while ``publishers`` processes of ``tasks`` callers each publish."""
        async with self.database() as (url, db):
            async with worker(self.python, url, self.receiver, self.concurrency) as process:
                args = ("publish", url, str(warmup + window), str(tasks), str(max_backlog))
                started = [Process(self.python, *args) for _ in range(publishers)]
                try:
                    await asyncio.sleep(warmup)
                    async with CpuMeter(db, []) as cpu:
                        peer = PeerCpu([process, *started])
                        before = await count_succeeded(db)
                        async with Backlog(functools.partial(count_waiting, db)) as backlog:
                            await asyncio.sleep(window)
                        after = await count_succeeded(db)
                        elapsed = cpu.elapsed()
                        cpu.extra = peer.spent()
                    published = [await p.result() for p in started]
                finally:
                    for p in started:
                        p.kill()
        done = after - before
        total = cpu.extra + cpu.postgres
        events = sum(p["events"] for p in published)
        took = max(p["elapsed"] for p in published)
        return Measured(
            done / elapsed,
            done,
            total / max(done, 1) * 1e6,
            f"{window:.0f} s window; published {events:,} events at {events / took:,.0f}/s,"
            f" {publishers} processes x {tasks} tasks; {backlog.bound(done, max_backlog)};"
            f" {cpu.note().replace('publisher', 'peer')}",
        )

    async def latency(self, http: Any) -> Latency:
        """Enqueue → receipt at :data:`latency.RATE` webhooks/s paced (``latency.py``)."""
        async with self.database() as (url, _):
            async with worker(self.python, url, self.receiver, self.concurrency):
                await self.receiver.call(http, "POST", "/__record")
                with stamps_file() as path:
                    out = await run_command(
                        self.python, "paced", url, str(RATE), str(SECONDS), path
                    )
                    stamps = read_stamps(path)
                return await measured(self.receiver, http, stamps, out["elapsed"], out["behind"])
