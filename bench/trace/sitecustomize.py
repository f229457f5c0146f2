"""Where an ingest server's time goes: load it into the bench's server processes with

    PYTHONPATH=bench/trace .venv/bin/python bench/ingest.py --backend postgresql --duration 8

and read ``$BENCH_TRACE_TO`` (default ``/tmp/rampwire-trace.txt``), rewritten every 3 s: per SQL
statement its count and mean wall time (the wait for PostgreSQL *and* for the event loop to run
the reply), per ingest batch its mean wall time and size, the event loop's lag (a 1 ms sleeper),
and every garbage collection's pause by generation. Only the ingest server processes load it
(``--role server --app ingest``); it changes nothing they do but add the timers, and, with
``BENCH_GC_THRESHOLDS=700,10,10``, the collector thresholds ``heap.settled()`` sets.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import sys
import threading
import time
from typing import Any

_SERVER = "--role" in sys.argv and "server" in sys.argv and "ingest" in sys.argv
OUT = os.environ.get("BENCH_TRACE_TO", "/tmp/rampwire-trace.txt")
statements: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
batches = [0, 0, 0.0]  # batches, requests, seconds
lags: list[float] = []
pauses: list[tuple[int, float]] = []


def _label(sql: str) -> str:
    """The statement after its ``unnest`` rows clause, if any: what tells statements apart."""
    text = " ".join(sql.split())
    cut = text.find(" AS (SELECT * FROM unnest(")
    return (text[text.find(")) ", cut) + 3 :] if cut > 0 else text)[:70]


def _timed(method: Any) -> Any:
    async def timed(self: Any, sql: str, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return await method(self, sql, *args)
        finally:
            entry = statements[_label(sql)]
            entry[0] += 1
            entry[1] += time.perf_counter() - start

    return timed


def _install() -> None:
    from rampwire import heap
    from rampwire.repository.inbound import InboundRepository
    from rampwire.services.ingestor import Ingestor
    from rampwire.storage.postgres import PostgresConnection

    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        setattr(PostgresConnection, name, _timed(getattr(PostgresConnection, name)))

    write_batch = InboundRepository._write_batch

    async def timed_batch(self: Any, batch: list[Any]) -> Any:
        start = time.perf_counter()
        try:
            return await write_batch(self, batch)
        finally:
            batches[0] += 1
            batches[1] += len(batch)
            batches[2] += time.perf_counter() - start

    InboundRepository._write_batch = timed_batch  # type: ignore[method-assign]

    async def sleeper() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    receive = Ingestor.receive
    started: list[asyncio.Task[None]] = []

    async def receive_and_watch(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not started:  # the first request: the server's loop is running
            started.append(asyncio.get_running_loop().create_task(sleeper()))
        return await receive(self, *args, **kwargs)

    Ingestor.receive = receive_and_watch  # type: ignore[method-assign]

    began = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - began[0]))

    gc.callbacks.append(collected)
    if thresholds := os.environ.get("BENCH_GC_THRESHOLDS"):  # e.g. "700,10,10": Python's default
        heap.THRESHOLDS = tuple(int(n) for n in thresholds.split(","))  # type: ignore[assignment]
    threading.Thread(target=_report, daemon=True).start()


def _at(ordered: list[float], quantile: float) -> float:
    """The ``quantile`` of sorted seconds, in milliseconds."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1e3


def _report() -> None:
    while True:
        time.sleep(3)
        lines = []
        if batches[0]:
            lines.append(
                f"batches {batches[0]}: {batches[1] / batches[0]:.1f} requests,"
                f" {batches[2] / batches[0] * 1e3:.2f} ms each"
            )
        for label, (count, seconds) in sorted(statements.items(), key=lambda s: -s[1][1]):
            lines.append(f"{int(count):7d} x {seconds / count * 1e3:6.2f} ms  {label}")
        if lags:
            ordered = sorted(lags)
            p50, p99, p999 = (_at(ordered, q) for q in (0.5, 0.99, 0.999))
            lines.append(
                f"loop lag: p50 {p50:.2f} ms, p99 {p99:.2f} ms,"
                f" p99.9 {p999:.2f} ms, max {ordered[-1] * 1e3:.2f} ms"
            )
        for generation in (0, 1, 2):
            times = [p for g, p in pauses if g == generation]
            if times:
                lines.append(
                    f"gc generation {generation}: {len(times)} pauses, max"
                    f" {max(times) * 1e3:.1f} ms, {sum(times) * 1e3:.0f} ms in all"
                )
        with open(OUT, "w") as out:
            out.write("\n".join(lines) + "\n")


if _SERVER:
    _install()
