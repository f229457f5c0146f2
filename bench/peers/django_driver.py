"""The django-webhook + Celery peer, driven from rampwire's benchmark process: the peer's
commands (``django_peer.py``) and a Celery worker (``celery -A djangopeer worker``: prefork,
one process per core, its defaults) run in the peer's virtualenv, on a fresh PostgreSQL
database and a Redis queue of their own, against the same receiver. Its CPU is that of every
peer process (the worker's children included), of Redis and of the PostgreSQL backends."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from harness.cpu import CpuMeter, pid_cpu
from harness.databases import fresh_database_url
from harness.publisher import Backlog
from harness.receiver import ReceiverProcess
from latency import RATE, SECONDS, Latency, measured, read_stamps, stamps_file
from procrastinate_driver import Measured, Process
from venvs import DJANGO_WEBHOOK

from rampwire.storage import Database, open_database

PROGRAM = Path(__file__).with_name("django_peer.py")
REDIS = ("127.0.0.1", 6379)
DEADLINE_S = 120.0
START_S = 60.0  # for the Celery worker to say it is ready
STOP_S = 30.0


def redis_absent() -> str | None:
    """Why Redis cannot be used, or None when it answers on 127.0.0.1:6379."""
    try:
        with socket.create_connection(REDIS, timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                return "Redis on 127.0.0.1:6379 did not answer PING"
    except OSError as exc:
        return f"Redis is not running on 127.0.0.1:6379 ({exc})"
    return None


def queue_length(env: dict[str, str]) -> int:
    """The Celery queue's length in Redis (``LLEN``), the backlog as the peer's publisher
    counts it."""
    queue = env["PEER_QUEUE"].encode()
    with socket.create_connection(REDIS, timeout=2) as sock:
        sock.sendall(b"*2\r\n$4\r\nLLEN\r\n$%d\r\n%s\r\n" % (len(queue), queue))
        answer = sock.recv(64)
    if not answer.startswith(b":"):
        raise RuntimeError(f"Redis answered LLEN with {answer!r}")
    return int(answer[1:].split(b"\r\n", 1)[0])


def redis_pid() -> int | None:
    """The Redis server's pid, to count its CPU (None if redis-cli is missing)."""
    if shutil.which("redis-cli") is None:
        return None
    info = subprocess.run(
        ["redis-cli", "info", "server"], capture_output=True, text=True, timeout=10
    ).stdout
    for line in info.splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    return None


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


class TreeCpu:
    """CPU of process trees (and Redis) over a measurement; each pid sampled at start and end."""

    def __init__(self, roots: list[int], redis: int | None) -> None:
        self._roots, self._redis = roots, redis
        self._start = self._sample()

    def _sample(self) -> dict[int, float]:
        pids = [pid for root in self._roots for pid in tree(root)]
        pids += [self._redis] if self._redis else []
        return {pid: pid_cpu(pid) for pid in pids}

    def spent(self) -> float:
        now = self._sample()
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in now.items())


class CeleryWorker:
    """``celery -A djangopeer worker`` with its defaults; ready once it says so."""

    def __init__(self, python: Path, env: dict[str, str]) -> None:
        args = ["-m", "celery", "-A", "djangopeer", "worker", "-l", "WARNING"]
        args += ["-Q", env["PEER_QUEUE"]]
        self.proc = subprocess.Popen(
            [str(python), *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=PROGRAM.parent,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # read to the end, so the worker never blocks on it
            if b"WORKER READY" in line:  # stderr goes through its logging
                self._ready.set()

    async def ready(self) -> None:
        if not await asyncio.to_thread(self._ready.wait, START_S):
            raise RuntimeError("the Celery worker did not get ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # warm shutdown: the children with it
            try:
                self.proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


async def count_succeeded(db: Database) -> int:
    async with db.connection() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM django_webhook_webhookevent WHERE status = 'SUCCESS'"
            )
        )


async def command(python: Path, env: dict[str, str], *args: str) -> dict[str, object]:
    process = Process(python, *args, program=PROGRAM, env=env)
    try:
        return await process.result()
    finally:
        process.kill()


class DjangoWebhookPeer:
    def __init__(self, admin_url: str, receiver: ReceiverProcess) -> None:
        self.admin_url, self.receiver = admin_url, receiver
        self.python = DJANGO_WEBHOOK.python

    def prepare(self) -> None:
        self.python = DJANGO_WEBHOOK.ensure()

    @contextlib.asynccontextmanager
    async def database(self) -> AsyncIterator[tuple[dict[str, str], Database]]:
        queue = f"rampwire-bench-{uuid.uuid4().hex[:12]}"
        async with fresh_database_url("postgresql", self.admin_url) as (url, _):
            env = {"PEER_DSN": url, "PEER_QUEUE": queue}
            await command(self.python, env, "setup", self.receiver.url)
            db = open_database(url)
            await db.open()
            try:
                yield env, db
            finally:
                await db.close()
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(
                        ["redis-cli", "DEL", queue, f"_kombu.binding.{queue}"],
                        capture_output=True,
                        timeout=10,
                    )

    async def drain(self, count: int) -> Measured:
        async with self.database() as (env, db):
            queued = await command(self.python, env, "queue", str(count))
            worker = CeleryWorker(self.python, env)
            try:
                await worker.ready()
                async with CpuMeter(db, []) as cpu:
                    peer = TreeCpu([worker.proc.pid], redis_pid())
                    deadline = time.perf_counter() + DEADLINE_S
                    done = 0
                    while done < count and time.perf_counter() < deadline:
                        await asyncio.sleep(0.05)
                        done = await count_succeeded(db)
                    elapsed = cpu.elapsed()
                    cpu.extra = peer.spent()
            finally:
                worker.stop()
        return Measured(
            done / elapsed,
            done,
            (cpu.extra + cpu.postgres) / max(done, 1) * 1e6,
            f"{done:,} of {count:,} in {elapsed:.2f} s; queued at {queued['rate']:,.0f}/s;"
            f" {cpu.note().replace('publisher', 'peer and Redis')}",
        )

    async def sustained(
        self, warmup: float, window: float, tasks: int, max_backlog: int, publishers: int
    ) -> Measured:
        """Deliveries/s while ``publishers`` processes of ``tasks`` threads each publish."""
        async with self.database() as (env, db):
            worker = CeleryWorker(self.python, env)
            try:
                await worker.ready()
                args = ("publish", str(warmup + window), str(tasks), str(max_backlog))
                started = [
                    Process(self.python, *args, program=PROGRAM, env=env) for _ in range(publishers)
                ]
                try:
                    await asyncio.sleep(warmup)
                    async with CpuMeter(db, []) as cpu:
                        roots = [worker.proc.pid, *(p.pid for p in started)]
                        peer = TreeCpu(roots, redis_pid())
                        before = await count_succeeded(db)
                        waiting = functools.partial(asyncio.to_thread, queue_length, env)
                        async with Backlog(waiting) as backlog:
                            await asyncio.sleep(window)
                        after = await count_succeeded(db)
                        elapsed = cpu.elapsed()
                        cpu.extra = peer.spent()
                    published = [await p.result() for p in started]
                finally:
                    for p in started:
                        p.kill()
            finally:
                worker.stop()
        done = after - before
        events = sum(float(str(p["events"])) for p in published)
        took = max(float(str(p["elapsed"])) for p in published)
        return Measured(
            done / elapsed,
            done,
            (cpu.extra + cpu.postgres) / max(done, 1) * 1e6,
            f"{window:.0f} s window; published {events:,.0f} events at {events / took:,.0f}/s,"
            f" {publishers} processes x {tasks} threads; {backlog.bound(done, max_backlog)};"
            f" {cpu.note().replace('publisher', 'peer and Redis')}",
        )

    async def latency(self, http: Any) -> Latency:
        """Enqueue → receipt at :data:`latency.RATE` webhooks/s paced (``latency.py``); the
        receiver keys django-webhook's requests by the order id in their body."""
        async with self.database() as (env, _):
            worker = CeleryWorker(self.python, env)
            try:
                await worker.ready()
                await self.receiver.call(http, "POST", "/__record")
                with stamps_file() as path:
                    out = await command(self.python, env, "paced", str(RATE), str(SECONDS), path)
                    stamps = read_stamps(path)
                elapsed, behind = float(str(out["elapsed"])), int(str(out["behind"]))
                return await measured(self.receiver, http, stamps, elapsed, behind)
            finally:
                worker.stop()
