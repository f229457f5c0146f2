"""Where the CPU goes in the partners phase, 1 partner against N: py-spy records this process for
the same seconds in each, alternating, during the sustained window (the publisher in the
worker's process on SQLite, as in ``rampwire serve``) or a drain. A diagnosis, not a benchmark
(``make bench`` skips ``_`` scripts); each recording is read by ``harness/stacks.py``.

    cd bench && ../.venv/bin/python _profile_partners.py --backend sqlite --phase sustained \
        --partners 1000 --seconds 15 --rounds 2 --out /tmp/prof
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import os
import re
import time
from pathlib import Path
from typing import Any

import aiosqlite
import uvloop
from delivery import worker_running
from harness.cpu import CpuMeter
from harness.publisher import Publisher, PublishPlan
from harness.report import loadavg
from harness.tenants import (
    alternating_tenants,
    bench_on,
    count_succeeded_since,
    queue_partner_orders,
)
from harness.workload import count_waiting

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.errors import StorageError
from rampwire.repository import OrderRepository
from rampwire.storage import Database
from rampwire.storage.database import to_us
from rampwire.types import utcnow

PYSPY = "/tmp/pyspy/bin/py-spy"
WARMUP_S = 3.0
DEADLINE_S = 120.0
_VALUES = re.compile(r"\(VALUES .*?\)\) ", re.S)
_MARKS = re.compile(r"\?\d+(, \?\d+)*")
statements: collections.Counter[str] = collections.Counter()  # SQLite thread CPU, by statement
calls: collections.Counter[str] = collections.Counter()
# ``--opcodes``: SQLite's virtual machine instructions by statement, counted by a progress
# handler every OPCODE_STEP of them (the load does not move them, unlike the statements' CPU)
OPCODE_STEP = 10
opcodes: collections.Counter[str] = collections.Counter()
COUNT_OPCODES: list[bool] = []
# sqlite3 keeps each connection's last STATEMENT_CACHE prepared statements by text (an LRU, its
# ``cached_statements``); a text not among them is prepared again: the same LRU, simulated
STATEMENT_CACHE = 128
prepared: collections.Counter[str] = collections.Counter()
_recent: dict[int, collections.OrderedDict[str, None]] = {}


def _prepares(conn: Any, sql: str) -> bool:
    """Whether sqlite3 prepares ``sql`` again on ``conn`` (not among its cached statements)."""
    recent = _recent.setdefault(id(conn), collections.OrderedDict())
    if sql in recent:
        recent.move_to_end(sql)
        return False
    recent[sql] = None
    if len(recent) > getattr(conn, "_cached_statements", STATEMENT_CACHE):
        recent.popitem(last=False)
    return True


def _time_statements() -> None:
    """Each statement's CPU in SQLite's threads, by its text (the ``VALUES`` rows collapsed)."""
    original = aiosqlite.Connection._execute

    async def _execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sql = args[0] if args and isinstance(args[0], str) else ""
        key = f"{fn.__name__}: {_MARKS.sub('?', _VALUES.sub('(VALUES ...)) ', sql))[:150]}"
        if sql and fn.__name__ != "executescript" and _prepares(self, sql):
            prepared[key] += 1

        def timed(*a: Any, **k: Any) -> Any:
            if COUNT_OPCODES:

                def step() -> int:
                    opcodes[key] += OPCODE_STEP
                    return 0

                self._conn.set_progress_handler(step, OPCODE_STEP)
            started = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                statements[key] += time.thread_time() - started
                calls[key] += 1

        return await original(self, timed, *args, **kwargs)

    aiosqlite.Connection._execute = _execute  # type: ignore[method-assign]


gc_seen: collections.Counter[str] = collections.Counter()  # collections and their seconds
_gc_started = [0.0]


def _time_collections(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.thread_time()
        return
    generation = info["generation"]
    gc_seen[f"gen{generation} collections"] += 1
    gc_seen[f"gen{generation} us"] += (time.thread_time() - _gc_started[0]) * 1e6
    gc_seen[f"gen{generation} collected"] += info["collected"]


def io_counts() -> dict[str, int]:
    """This process's read and write system calls and bytes (``/proc/self/io``): SQLite reads a
    page its cache misses with one ``pread``, and writes each dirty page to the WAL on commit."""
    found = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        name, value = line.split(":")
        if name in ("syscr", "syscw", "rchar", "wchar"):
            found[name] = int(value)
    return found


def threads_cpu() -> dict[str, float]:
    """CPU seconds (user, system) and context switches of this process's threads, the main one
    apart from the others."""
    found: dict[str, float] = collections.Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except OSError:
            continue
        name = "main" if task.name == str(os.getpid()) else "others"
        found[f"{name} user"] += int(fields[11]) / tick
        found[f"{name} system"] += int(fields[12]) / tick
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                kind, value = line.split(":")
                found[f"{name} {kind.split('_')[0]} switches /1e6"] += int(value) / 1e6
    return found


class Probe:
    """py-spy over the measured seconds, or (``--statements``) SQLite's statements timed and
    the threads' CPU read."""

    def __init__(self, statements_only: bool, cprofile: bool = False) -> None:
        self.statements_only = statements_only or cprofile
        self.db: Database | None = None  # PostgreSQL: its statements, from pg_stat_statements
        self._pg: list[str] = []
        self._cprofile = cprofile  # the main thread's calls, by cProfile, saved beside ``out``
        self._profile: cProfile.Profile | None = None
        self._spy: asyncio.subprocess.Process | None = None
        self._threads: dict[str, float] = {}
        self._io: dict[str, int] = {}
        self._tracked = 0
        self._updates = (0, 0)  # deliveries' updates and heap-only ones, at start()
        self._unloaded = False  # pg_stat_statements is not in shared_preload_libraries

    async def start(self, seconds: float, out: Path) -> None:
        statements.clear()
        calls.clear()
        opcodes.clear()
        prepared.clear()
        gc_seen.clear()
        self._tracked = len(gc.get_objects())
        self._threads = threads_cpu()
        self._io = io_counts()
        if self.db is not None and self.db.dialect == "postgresql":
            async with self.db.connection() as conn:
                row = await conn.fetchrow(_PG_UPDATES)
                self._updates = (row[0], row[1])
                if self.statements_only:
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    try:
                        await conn.execute(  # this database's: others may be measuring
                            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
                            " WHERE datname = current_database()), 0)"
                        )
                    except StorageError:  # not preloaded: the backends' CPU is still measured
                        self._unloaded = True
        if self._cprofile:
            self._profile = cProfile.Profile()
            self._profile.enable()
        elif not self.statements_only:
            self._spy = await record(seconds, out)

    async def read_postgresql(self, sent: int) -> None:
        """Deliveries' updates since :meth:`start` and the share written heap-only (HOT); with
        ``--statements``, this database's statements (``pg_stat_statements`` must be in
        ``shared_preload_libraries``): execution time and calls per delivery, the top ones."""
        self._pg = []
        if self.db is None or self.db.dialect != "postgresql":
            return
        async with self.db.connection() as conn:
            upd, hot_upd = await conn.fetchrow(_PG_UPDATES)
            rows = await conn.fetch(_PG_TOP) if self.statements_only and not self._unloaded else []
        updates, hot = upd - self._updates[0], hot_upd - self._updates[1]
        self._pg.append(
            f"deliveries' updates per delivery {updates / max(sent, 1):.2f},"
            f" heap-only (HOT) {hot / max(updates, 1):.0%} (backends report them up to 10 s late)"
        )
        if not rows:
            return
        per = 1000 / max(sent, 1)
        total = sum(row["total_exec_time"] for row in rows)
        wal = sum(int(row["wal_bytes"]) for row in rows) / max(sent, 1)
        self._pg.append(
            f"PostgreSQL statements, us execution per delivery: {total * per:,.1f},"
            f" WAL {wal:,.0f} B"
        )
        for row in rows[:14]:
            self._pg.append(
                f"  {row['total_exec_time'] * per:7.1f} us  {row['calls'] * per * 1000:7.1f}/1000"
                f"  rows {row['rows'] / max(row['calls'], 1):6.1f}"
                f"  WAL {int(row['wal_bytes']) / max(sent, 1):6,.0f} B  {row['query'][:150]}"
            )

    def report(self, sent: int, out: Path) -> str:
        per = 1e6 / max(sent, 1)
        if self._profile is not None:
            self._profile.disable()
            self._profile.dump_stats(f"{out.with_suffix('')}.{sent}.prof")
            self._profile = None
        now = threads_cpu()
        lines = [
            "threads, us CPU per delivery: "
            + ", ".join(f"{k} {(now[k] - self._threads.get(k, 0)) * per:,.1f}" for k in sorted(now))
        ]
        io = io_counts()
        lines.append(
            "I/O per delivery: "
            + ", ".join(
                f"{k} {(io[k] - self._io.get(k, 0)) / max(sent, 1):,.2f}"
                if k.startswith("sys")
                else f"{k} {(io[k] - self._io.get(k, 0)) / max(sent, 1) / 1024:,.1f} KiB"
                for k in sorted(io)
            )
        )
        lines.append(
            f"tracked objects {self._tracked:,} -> {len(gc.get_objects()):,}; per 1,000"
            " deliveries: "
            + ", ".join(f"{k} {v * 1000 / max(sent, 1):,.1f}" for k, v in sorted(gc_seen.items()))
        )
        lines.extend(self._pg)
        if self.statements_only and statements:
            total = sum(statements.values())
            lines.append(
                f"SQLite statements, us CPU per delivery: {total * per:,.1f}; prepared again"
                f" (not among a connection's last {STATEMENT_CACHE}):"
                f" {sum(prepared.values()) * 1000 / max(sent, 1):,.1f}/1000 deliveries"
            )
            for key, cpu in statements.most_common(14):
                lines.append(
                    f"  {cpu * per:7.1f} us  {calls[key] * 1000 / max(sent, 1):7.1f}/1000"
                    f"  prepared {prepared[key] * 1000 / max(sent, 1):5.1f}/1000  {key}"
                )
        if opcodes:
            lines.append(
                "SQLite VM instructions per delivery:"
                f" {sum(opcodes.values()) / max(sent, 1):,.0f}, by statement:"
            )
            for key, count in opcodes.most_common(14):
                lines.append(f"  {count / max(sent, 1):9,.0f}  {key}")
        return "\n      ".join(lines)

    async def wait(self) -> None:
        if self._spy is not None:
            await self._spy.wait()


_PG_TOP = (
    "SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls, rows, total_exec_time,"
    " wal_bytes"
    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
    " WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'"
    " ORDER BY total_exec_time DESC"
)
_PG_UPDATES = (
    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'deliveries'"
)
NATIVE: list[str] = []  # ["--native"]: C frames too (the process is paused for each sample)


async def record(seconds: float, out: Path) -> asyncio.subprocess.Process:
    mode = NATIVE or ["--nonblocking"]
    return await asyncio.create_subprocess_exec(
        PYSPY, "record", "--pid", str(os.getpid()), "-d", str(int(seconds)), "-r", "100",
        "-f", "raw", "-o", str(out), "--threads", "--gil", *mode,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def sustained(
    db: Database,
    box: SecretBox,
    partners: list[str],
    seconds: float,
    out: Path,
    where: str,
    probe: Probe,
) -> str:
    plan = PublishPlan(
        mode="flood", duration=WARMUP_S + seconds + 1, partners=tuple(partners), max_backlog=5000
    )
    since = to_us(utcnow())
    async with worker_running(db, box, 256) as worker:
        publisher = Publisher(db, worker, plan, where)
        await publisher.start()
        await asyncio.sleep(WARMUP_S)
        async with CpuMeter(db, []) as cpu:
            await probe.start(seconds, out)
            before, sent = await count_succeeded_since(db, since), worker.sent
            await asyncio.sleep(seconds)
            done = await count_succeeded_since(db, since) - before
            sent = worker.sent - sent
            elapsed = cpu.elapsed()
            await probe.read_postgresql(sent)
            probed = probe.report(sent, out)
        await probe.wait()
        published = await publisher.result()
        deadline = time.monotonic() + DEADLINE_S
        while await count_waiting(db) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    return (
        f"{done / elapsed:,.0f} deliveries/s, {cpu.own / max(sent, 1) * 1e6:,.0f} us CPU per"
        f" delivery (PostgreSQL's backends {cpu.postgres / max(sent, 1) * 1e6:,.0f} us),"
        f" {published.events / published.elapsed:,.0f} events/s; {cpu.note()}"
        f"\n      {probed}"
    )


async def drain(
    db: Database,
    box: SecretBox,
    partners: list[str],
    seconds: float,
    out: Path,
    events: int,
    probe: Probe,
) -> str:
    since = to_us(utcnow())
    await queue_partner_orders(OrderRepository(db), partners, events // 3)
    async with CpuMeter(db, []) as cpu:
        await probe.start(seconds, out)
        async with worker_running(db, box, 256) as worker:
            deadline = time.monotonic() + DEADLINE_S
            while worker.sent < events // 3 * 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            done = 0
            while done < events // 3 * 3 and time.monotonic() < deadline:
                done = await count_succeeded_since(db, since)
                await asyncio.sleep(0.02)
            elapsed = cpu.elapsed()
            sent = worker.sent
            await probe.read_postgresql(sent)
            probed = probe.report(sent, out)
        await probe.wait()
    return (
        f"{done / elapsed:,.0f} deliveries/s, {cpu.own / max(sent, 1) * 1e6:,.0f} us CPU per"
        f" delivery in {elapsed:.1f} s; {cpu.note()}\n      {probed}"
    )


async def main(args: argparse.Namespace) -> None:
    async with bench_on(args.backend) as on:
        db, box = on.db, on.box
        probe = Probe(args.statements, args.cprofile)
        probe.db = db
        where = args.publisher or ("inline" if args.backend == "sqlite" else "process")
        async for round_, count, partners in alternating_tenants(
            db, on.endpoints, on.url, args.partners, args.rounds, 256
        ):
            out = Path(f"{args.out}_{args.backend}_{args.phase}_{count}_{round_}.txt")
            if args.phase == "sustained":
                line = await sustained(db, box, partners, args.seconds, out, where, probe)
            else:
                line = await drain(db, box, partners, args.seconds, out, args.events, probe)
            print(f"{count:>5} partners, round {round_}: {line}; load {loadavg()}")
            print(f"      {out}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--phase", choices=["sustained", "drain"], default="sustained")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--events", type=int, default=30_000, help="drain: deliveries queued")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--publisher", choices=["inline", "process"], default=None)
    parser.add_argument("--out", default="/tmp/partners_profile")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="time the statements instead of py-spy (SQLite: in its threads; PostgreSQL:"
        " pg_stat_statements, which must be preloaded)",
    )
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile the main thread instead of py-spy"
    )
    parser.add_argument("--native", action="store_true", help="py-spy: C frames too")
    parser.add_argument(
        "--opcodes",
        action="store_true",
        help="with --statements: SQLite's VM instructions by statement (slows SQLite down)",
    )
    parsed = parser.parse_args()
    if parsed.opcodes:
        COUNT_OPCODES.append(True)
    gc.callbacks.append(_time_collections)
    if parsed.native:
        NATIVE.append("--native")
    if parsed.statements:
        _time_statements()
    with heap.settled():
        uvloop.run(main(parsed))
