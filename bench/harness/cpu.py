"""Where the CPU went during a measurement, read from /proc: a process, the PostgreSQL backends
serving a database, and the whole machine (other sessions' tests, hypervisor steal). CPU time per
request is much less sensitive to other load on a shared machine than wall-clock rates."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rampwire.storage import Database

TICK = os.sysconf("SC_CLK_TCK")


def pid_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu() -> Counter[str]:
    """User + system CPU seconds of this process's threads so far, by Python thread name with
    its number left out (``Thread (_connection_worker_thread)``: aiosqlite's;
    ``OtelBatchSpanRecordProcessor``: a span exporter's); threads Python did not start (uvloop's
    resolver pool) under ``native``. A thread that ended is no longer counted here."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    found: Counter[str] = Counter()
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task.name))
        kind = re.sub(r"[-_]\d+", "", name) if name else "native"
        found[kind] += (int(fields[11]) + int(fields[12])) / TICK
    return found


def machine_busy() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine since boot, from /proc/stat;
    steal is time the hypervisor gave this VM's CPUs to someone else."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values) - idle - steal) / TICK, steal / TICK, sum(values) / TICK


class PostgresCpu:
    """CPU of the PostgreSQL backends serving a database (autovacuum's workers included) over
    a measurement. Backends come and go (a publisher's pool closes; asyncpg's pool replaces a
    connection after 50,000 queries): each is sampled every 0.25 s, one that connects meanwhile
    counts from zero, and one that closes counts until its last sample. Nothing on SQLite
    (it works in the caller's threads). ``sampled=False``: only at the start and the stop (a
    caller counting its own instructions, which the samples would add to in proportion to
    the run's wall time)."""

    def __init__(self, db: Database, *, sampled: bool = True) -> None:
        self._db = db
        self._sampled = sampled
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._sampler: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            )
        self._last.update({row["pid"]: pid_cpu(row["pid"]) for row in rows})

    async def _sample_loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            await self._sample()

    async def start(self) -> None:
        if self._db.dialect != "postgresql":
            return
        await self._sample()
        self._start = dict(self._last)
        if self._sampled:
            self._sampler = asyncio.create_task(self._sample_loop())

    async def stop(self) -> float:
        """CPU seconds spent since :meth:`start`."""
        if self._db.dialect != "postgresql":
            return 0.0
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        await self._sample()
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())


class CpuMeter:
    """Where the CPU went during a measurement: this process (the worker, or the bare loop),
    the PostgreSQL backends serving the database, the receivers (``receivers``: their pids), a
    publisher process (``extra``, when the phase sets it), and whatever else ran on the
    machine."""

    def __init__(self, db: Database, receivers: list[int]) -> None:
        self._db = db
        self._receivers = receivers
        self.extra = 0.0
        self._postgres = PostgresCpu(db)

    async def __aenter__(self) -> CpuMeter:
        await self._postgres.start()
        self._rx = sum(pid_cpu(pid) for pid in self._receivers)
        self._busy, self._steal, self._total = machine_busy()
        self._own = time.process_time()
        self._threads = thread_cpu()
        self._wall = time.perf_counter()
        return self

    def elapsed(self) -> float:
        return time.perf_counter() - self._wall

    async def __aexit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.own = time.process_time() - self._own
        self.threads = thread_cpu() - self._threads
        busy, steal, total = machine_busy()
        cores = os.cpu_count() or 1
        scale = cores * self.wall / max(total - self._total, 1e-9)  # CPU seconds per tick
        self.machine = (busy - self._busy) * scale
        self.steal = (steal - self._steal) * scale
        self.receivers = sum(pid_cpu(pid) for pid in self._receivers) - self._rx
        self.postgres = await self._postgres.stop()

    def by_thread(self, count: int) -> str:
        """This process's CPU by thread, in microseconds per one of ``count`` (deliveries)."""
        return ", ".join(
            f"{name} {seconds / max(count, 1) * 1e6:,.0f} us"
            for name, seconds in self.threads.most_common()
        )

    def note(self) -> str:
        def share(seconds: float) -> str:
            return f"{100 * seconds / self.wall:.0f} %"

        parts = [f"CPU: this process {share(self.own)}"]
        if self._db.dialect == "postgresql":
            parts.append(f"postgres {share(self.postgres)}")
        if self.extra:
            parts.append(f"publisher {share(self.extra)}")
        parts.append(f"receivers {share(self.receivers)}")
        unaccounted = self.machine - self.own - self.postgres - self.extra - self.receivers
        parts.append(f"other load {share(max(unaccounted, 0.0))}")
        cores = os.cpu_count() or 1
        parts.append(f"machine {share(self.machine)} of {100 * cores} %")
        parts.append(f"steal {share(self.steal)}")
        return ", ".join(parts)
