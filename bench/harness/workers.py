"""Delivery worker processes beside the benchmark (PostgreSQL): each one what ``rampwire worker``
runs to deliver (a ``Worker`` with its own pool and its own LISTEN connection, claiming beside
the others under ``FOR UPDATE SKIP LOCKED``), in a process of its own, started together so that
a drain's clock starts when they all can claim. Every process is stopped by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.services.worker import Worker, WorkerOptions
from rampwire.ssrf import TargetPolicy
from rampwire.storage import open_database

from .children import stop_children
from .cpu import pid_cpu

START_S = 30.0  # for a worker process to be ready
STOP_S = 30.0  # for a worker process to stop once told


def _worker_process(
    url: str, key: bytes, concurrency: int, limit_s: float, ready: Any, go: Any, done: Any, out: str
) -> None:
    """One worker: starts when ``go`` is set, stops when ``done`` is (or after ``limit_s``),
    then writes how many attempts it sent and how many claims it made to ``out``."""

    async def main() -> None:
        db = open_database(url)
        await db.open()
        try:
            worker = Worker(
                db,
                SecretBox(key),
                policy=TargetPolicy(allow_private=True),
                options=WorkerOptions(concurrency=concurrency),
            )
            ready.set()
            await asyncio.to_thread(go.wait, limit_s)
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            await asyncio.to_thread(done.wait, limit_s)
            stop.set()
            await asyncio.wait_for(task, timeout=STOP_S)
            Path(out).write_text(json.dumps({"sent": worker.sent, "claims": worker.claims}))
        finally:
            await db.close()

    with heap.settled():  # as in `rampwire serve` and `rampwire worker`
        uvloop.run(main())


class WorkerProcesses:
    """``count`` worker processes of ``concurrency`` each on the database at ``url``::

    async with WorkerProcesses(url, key, 3, 256, limit_s=60) as workers:
        workers.go()            # they start claiming
        ...                     # workers.cpu(): their CPU seconds so far
    workers.sent                # attempts per process, once stopped
    """

    def __init__(
        self, url: str, key: bytes, count: int, concurrency: int, *, limit_s: float
    ) -> None:
        self._url, self._key, self._count, self._concurrency = url, key, count, concurrency
        self._limit_s = limit_s
        context = multiprocessing.get_context("spawn")
        self._context = context
        self._go, self._done = context.Event(), context.Event()
        self._procs: list[tuple[Any, str]] = []
        self.sent: list[int] = []
        self.claims: list[int] = []

    async def __aenter__(self) -> WorkerProcesses:
        try:
            for _ in range(self._count):
                ready = self._context.Event()
                handle, out = tempfile.mkstemp(prefix="rampwire_bench_", suffix=".json")
                os.close(handle)
                proc = self._context.Process(
                    target=_worker_process,
                    args=(
                        self._url,
                        self._key,
                        self._concurrency,
                        self._limit_s,
                        ready,
                        self._go,
                        self._done,
                        out,
                    ),
                    daemon=True,
                )
                proc.start()
                self._procs.append((proc, out))
                if not await asyncio.to_thread(ready.wait, START_S):
                    raise RuntimeError("a worker process did not start")
        except BaseException:
            self._kill()
            raise
        return self

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc, _ in self._procs]

    def go(self) -> None:
        self._go.set()

    def cpu(self) -> float:
        """CPU seconds of the worker processes so far."""
        return sum(pid_cpu(pid) for pid in self.pids)

    async def __aexit__(self, *_: object) -> None:
        self._go.set()
        self._done.set()
        try:
            for proc, out in self._procs:
                await asyncio.to_thread(proc.join, STOP_S)
                with contextlib.suppress(OSError, ValueError, KeyError):
                    result = json.loads(Path(out).read_text())
                    self.sent.append(result["sent"])
                    self.claims.append(result["claims"])
        finally:
            self._kill()

    def _kill(self) -> None:
        self._done.set()
        stop_children(self._procs)
        self._procs = []
