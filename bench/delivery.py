"""Delivery engine benchmark: drain, sustained, latency and slow receivers, on SQLite and
PostgreSQL, through the real code paths (``OrderRepository`` to publish, ``Worker`` to deliver).

    .venv/bin/python bench/delivery.py [--backend sqlite|postgresql|both]

Phases, per back-end (one fresh database each: a temporary SQLite file, or a PostgreSQL database
``rampwire_bench_<random>`` dropped at the end, first given ``--history`` delivered orders and,
on PostgreSQL, an ``ANALYZE``, so that it is measured as a database that has been running):

1. drain: N orders created through ``OrderRepository.create`` with one subscribed endpoint and
   no worker running; then a real ``Worker`` starts and the clock runs until all N deliveries are
   ``succeeded`` in the database. In the same run, a bare aiohttp POST loop (same signing, same
   payload size, same concurrency, same receiver) gives the ceiling: drain ÷ bare loop.
2. sustained: a publisher creates orders and changes them twice (three events per order) as fast
   as it can while the backlog stays under a bound; deliveries/s over a fixed window.
3. latency: a paced publisher offers 1,000 events/s; enqueue (the publish call returned) →
   first attempt (the receiver's arrival time of that ``webhook-id``), p50 and p99.
4. slow receivers: N queued events to a receiver that answers after 250 ms, with thousands of
   requests in flight; deliveries/s until all are ``succeeded``.
5. isolation (only when named in ``--phases``): a healthy endpoint's p99 at the low rate,
   alone and beside an endpoint that never answers with a backlog; the ratio of the two.
6. metrics, tracing, metrics_drain, tracing_drain (only when named): the cost of metrics, and
   of tracing at 10 % sampling (the publisher's changes inside sampled server spans). The
   sustained phases: one run with metrics or tracing switched off and on every ``--slice``
   seconds, ``--pairs`` pairs; the drain phases: drains of queued events, alternating off and
   on for ``--rounds`` rounds (the worker's own CPU). The cost is the median of the pairs'
   ratios.

Receivers run in separate processes (``bench/harness/receiver.py``, raw asyncio HTTP on
uvloop). Publishing during phases 2 and 3 runs where each back-end's deployment puts it: in the
worker's process with ``on_publish=worker.wake`` on SQLite (``rampwire serve``, the embedded
mode), in a separate process woken through NOTIFY on PostgreSQL (API nodes beside ``rampwire
worker``); override with ``--publisher inline|process``. Every loop has a deadline; every process
started is stopped by pid. What the benchmarks share (receivers, CPU meters, databases, orders,
publishers, the report) is in ``bench/harness/``; this script keeps its phases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp
import uvloop
from harness import slices, spans
from harness.cpu import CpuMeter
from harness.databases import PG_ADMIN_URL, fresh_database, postgres_version
from harness.paired import Paired, even, first
from harness.publisher import Backlog, Publisher, PublishPlan
from harness.receiver import ReceiverProcess
from harness.report import Report, Row, loadavg, machine, percentile, scale_table
from harness.spans import sink_tracing
from harness.tenants import (
    alternating_tenants,
    count_succeeded_since,
    queue_partner_orders,
)
from harness.workers import WorkerProcesses
from harness.workload import (
    QUEUE_DEADLINE_S,
    count_succeeded,
    count_waiting,
    create_order,
    make_endpoint,
    make_history,
    queue_orders,
)

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint
from rampwire.delivery.sender import USER_AGENT
from rampwire.dialects import standard
from rampwire.metrics import Metrics
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.services.worker import Worker, WorkerOptions
from rampwire.settings import Secret
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database, statistics
from rampwire.storage.database import to_us
from rampwire.tracing import Tracing
from rampwire.types import utcnow

SLOW_DELAY_S = 0.25
PHASE_DEADLINE_S = 30.0  # no measured loop runs longer than this
STOP_DEADLINE_S = 30.0  # a worker or a publisher process gets this long to stop
SLICES_SLACK_S = 5.0  # the metrics phase: the publisher runs this long past the last slice
# Sustained: API nodes publishing at once, 8 callers each: enough that the worker, not the
# publishing, bounds the figure on a 2-core machine (docs/benchmarks.md, "Publishers").
PUBLISHERS = 4
PACKAGES = ("uvloop", "aiohttp", "asyncpg", "orjson")  # their versions head the output

TARGETS = {
    "drain_ratio": 0.6,  # drain >= 0.6 x bare loop
    "sustained": 5_000.0,  # deliveries/s
    "latency_p99_ms": 50.0,  # at 1,000 events/s
    "slow": 4_000.0,  # deliveries/s to a 250 ms receiver
}


@dataclass(frozen=True)
class Config:
    events: int = 0  # drain phase: events queued before the worker starts (0: per back-end)
    concurrency: int = 256  # worker concurrency = endpoint max_in_flight = bare-loop concurrency
    warmup: float = 3.0  # sustained: seconds before the window opens
    window: float = 15.0  # sustained: the measured window
    max_backlog: int = 5_000  # sustained: the publisher waits while more deliveries are waiting
    publish_tasks: int = 8  # sustained: concurrent publish loops per publisher process
    publishers: int = PUBLISHERS  # sustained: publisher processes (PostgreSQL; SQLite: inline)
    latency_rate: float = 1_000.0  # events/s offered in the latency phase (the target's rate)
    latency_rate_low: float = 200.0  # and a rate this machine can sustain
    latency_seconds: float = 6.0  # per rate
    slow_events: int = 0  # slow phase: events queued (0: per back-end)
    slow_concurrency: int = 2_048  # worker concurrency = endpoint max_in_flight, slow phase
    publisher: str = "auto"  # auto | inline | process
    history: int = 20_000  # delivered orders in the database before the first phase
    partners: int = 0  # the partners phase: drain over 1 partner, then over this many
    workers: int = 0  # the workers phase: drain and sustained with 1 .. this many processes
    # metrics, tracing, workers and partners phases: rounds, alternating which variant goes first
    rounds: int = 3
    control: bool = (
        False  # metrics phases: "on" is metrics off too (an A/A run: the bench's own bias)
    )
    pairs: int = 60  # metrics phase: pairs of slices, off and on, in one sustained run
    slice_s: float = 1.0  # metrics phase: seconds each way


# --- the worker ----------------------------------------------------------------------------


async def one_payload(db: Database) -> tuple[str, bytes]:
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT id, payload FROM events ORDER BY id LIMIT 1")
    assert row is not None
    return row["id"], row["payload"].encode("utf-8")


@contextlib.asynccontextmanager
async def worker_running(
    db: Database,
    box: SecretBox,
    concurrency: int,
    *,
    metrics: bool | Metrics = True,
    tracing: Tracing | None = None,
) -> AsyncIterator[Worker]:
    """``metrics``: whether the worker counts, or the :class:`Metrics` it counts into."""
    worker = Worker(
        db,
        box,
        policy=TargetPolicy(allow_private=True),
        options=WorkerOptions(concurrency=concurrency),
        metrics=metrics if isinstance(metrics, Metrics) else Metrics(enabled=metrics),
        tracing=tracing,
    )
    stop = asyncio.Event()
    # as `rampwire worker` runs them (its sweeper has nothing to do here)
    task = asyncio.gather(worker.run(stop), statistics.keep(db, stop))
    try:
        yield worker
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=STOP_DEADLINE_S)
        except TimeoutError:
            print("  warning: the worker did not stop in time", flush=True)


def batching(worker: Worker, claims: int, records: int, sent: int) -> str:
    """How many claim queries and record transactions the worker made since the counts given,
    and how many attempts each carried on average."""
    made, written = worker.claims - claims, worker.record_batches - records
    return (
        f"{made:,} claims ({sent / max(made, 1):.1f} per claim),"
        f" {written:,} record transactions ({sent / max(written, 1):.1f} each)"
    )


# --- phases ---------------------------------------------------------------------------------


@dataclass
class Bench:
    backend: str
    db: Database
    box: SecretBox
    key: bytes  # the box's master key, for worker processes
    fast: ReceiverProcess
    slow: ReceiverProcess
    http: aiohttp.ClientSession  # talks to the receivers' control paths
    config: Config
    report: Report
    figures: dict[str, float] = field(default_factory=dict)  # single-process rates, for ratios

    @property
    def publisher(self) -> str:
        if self.config.publisher != "auto":
            return self.config.publisher
        return "inline" if self.backend == "sqlite" else "process"

    @property
    def receivers(self) -> list[ReceiverProcess]:
        return [self.fast, self.slow]

    @property
    def receiver_pids(self) -> list[int]:
        return [r.proc.pid for r in self.receivers if r.proc is not None]

    @property
    def events(self) -> int:
        return self.config.events or (5_000 if self.backend == "sqlite" else 10_000)

    @property
    def slow_events(self) -> int:
        return self.config.slow_events or (5_000 if self.backend == "sqlite" else 10_000)

    def row(self, name: str, value: float | None, unit: str, **extra: Any) -> None:
        self.report.add(Row(self.backend, name, value, unit, **extra))


async def wait_succeeded(
    bench: Bench, worker: Worker, endpoint_id: str, count: int, deadline: float
) -> int:
    """Wait until ``count`` deliveries are acknowledged in the database (or the deadline)."""
    while worker.sent < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    done = 0
    while time.perf_counter() < deadline:
        done = await count_succeeded(bench.db, endpoint_id)
        if done >= count:
            break
        await asyncio.sleep(0.02)
    return done


async def phase_drain(bench: Bench) -> None:
    config = bench.config
    count = bench.events
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency)
    queued = await queue_orders(OrderRepository(bench.db), count)
    bench.row("queue N events (no worker)", queued, "events/s", note=f"N={count:,}")
    event_id, payload = await one_payload(bench.db)
    await bench.fast.call(bench.http, "POST", "/__reset")

    async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
        async with worker_running(bench.db, bench.box, config.concurrency) as worker:
            done = await wait_succeeded(
                bench, worker, endpoint.id, count, time.perf_counter() + PHASE_DEADLINE_S
            )
            elapsed = cpu.elapsed()
            batches = batching(worker, 0, 0, worker.sent)
    received = (await bench.fast.call(bench.http, "GET", "/__stats"))["count"]
    drain = done / elapsed
    drain_cpu = cpu.own / max(done, 1) * 1e6
    bench.row(
        "drain",
        drain,
        "deliveries/s",
        note=f"{done:,} succeeded in {elapsed:.2f} s; receiver saw {received:,}; {batches};"
        f" {cpu.note()}",
    )

    secret = endpoint.secrets[0].value.reveal()
    async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
        bare, sent = await bare_loop(
            bench.fast.url, event_id, payload, secret, count, config.concurrency
        )
    bare_cpu = cpu.own / max(sent, 1) * 1e6
    bench.row(
        "bare aiohttp loop",
        bare,
        "requests/s",
        note=f"{len(payload)} B body, concurrency {config.concurrency}; {cpu.note()}",
    )
    bench.figures["drain"], bench.figures["bare"] = drain, bare
    ratio = drain / bare if bare else 0.0
    bench.row(
        "drain / bare loop",
        ratio,
        "x",
        target=f">= {TARGETS['drain_ratio']}",
        met=ratio >= TARGETS["drain_ratio"],
    )
    bench.row("drain: CPU per delivery", drain_cpu, "us", note="worker process, all threads")
    bench.row("bare loop: CPU per request", bare_cpu, "us")
    bench.row(
        "CPU-time ratio, bare / drain",
        bare_cpu / drain_cpu,
        "x",
        note="the ratio with other load on the machine factored out",
    )
    await endpoints.delete(endpoint.id, now=utcnow())


async def bare_loop(
    url: str, event_id: str, payload: bytes, secret: str, count: int, concurrency: int
) -> tuple[float, int]:
    """``count`` signed POSTs of ``payload`` with ``concurrency`` in flight: (requests/s,
    requests answered 2xx)."""
    credentials = standard.StandardCredentials(secrets=(Secret(secret),))
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    left = count
    ok = 0
    deadline = time.perf_counter() + PHASE_DEADLINE_S
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout
    ) as session:

        async def loop() -> None:
            nonlocal left, ok
            while left > 0 and time.perf_counter() < deadline:
                left -= 1
                signed = standard.sign(event_id, payload, credentials, now=utcnow())
                headers = {**signed.headers, "user-agent": USER_AGENT}
                async with session.post(url, data=payload, headers=headers) as response:
                    await response.read()
                    ok += 200 <= response.status < 300

        start = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return ok / elapsed, ok


async def phase_sustained(bench: Bench) -> None:
    config = bench.config
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency)
    plan = PublishPlan(
        mode="flood",
        duration=config.warmup + config.window,
        tasks=config.publish_tasks,
        max_backlog=config.max_backlog,
    )
    async with worker_running(bench.db, bench.box, config.concurrency) as worker:
        publisher = Publisher(bench.db, worker, plan, bench.publisher, processes=config.publishers)
        try:
            await publisher.start()
            await asyncio.sleep(config.warmup)
            async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
                before = await count_succeeded(bench.db, endpoint.id)
                sent_before = worker.sent
                claims, records = worker.claims, worker.record_batches
                async with Backlog(functools.partial(count_waiting, bench.db)) as backlog:
                    await asyncio.sleep(config.window)
                after = await count_succeeded(bench.db, endpoint.id)
                sent = worker.sent - sent_before
                batches = batching(worker, claims, records, sent)
                window = cpu.elapsed()
            published = await publisher.result()
        finally:
            publisher.stop()
    rate = (after - before) / window
    separate = bench.publisher == "process"
    if separate:  # the publisher's CPU, prorated to the window
        cpu.extra = published.cpu * window / max(published.elapsed, 1e-9)
    bench.row(
        "sustained",
        rate,
        "deliveries/s",
        target=f">= {TARGETS['sustained']:,.0f}",
        met=rate >= TARGETS["sustained"],
        note=f"{config.window:.0f} s window, publisher {bench.publisher};"
        f" {backlog.bound(after - before, config.max_backlog)}",
    )
    per_event = f"; {published.cpu / max(published.events, 1) * 1e6:,.0f} us CPU per event"
    bench.row(
        "sustained: published",
        published.events / published.elapsed,
        "events/s",
        note=f"{publisher.processes} process(es) x {plan.tasks} tasks, create + 2 changes per"
        f" order{per_event if separate else ''}",
    )
    bench.row(
        "sustained: mean backlog",
        sum(backlog.samples) / len(backlog.samples),
        "deliveries",
        note=f"waiting or leased, every 0.5 s; {backlog.note()}; the publishers pause above"
        f" {config.max_backlog:,}",
    )
    if separate:
        bench.row(
            "sustained: CPU per delivery",
            (cpu.own + cpu.extra + cpu.postgres) / max(after - before, 1) * 1e6,
            "us",
            note="the worker process, the publishers and PostgreSQL's backends",
        )
    bench.row(
        "sustained: worker CPU per delivery",
        cpu.own / max(sent, 1) * 1e6,
        "us",
        note=f"{batches}; {cpu.note()}"
        + ("" if separate else " (publisher included: same process)"),
    )
    await endpoints.delete(endpoint.id, now=utcnow())


async def phase_metrics(bench: Bench) -> None:
    """The cost of metrics in sustained deliveries (tracing off): the worker and the inline
    publisher count into one :class:`Metrics`, switched off and on slice by slice. Metrics on
    is exactly that switch: with ``enabled`` false every meter returns at once, as with
    ``RAMPWIRE_METRICS=0``. A publisher process (PostgreSQL) counts nothing either way."""
    meters = Metrics(enabled=False)
    control = bench.config.control

    def switch(on: bool) -> None:
        meters.enabled = on and not control

    await _sliced(bench, "metrics", switch, 3.0, metrics=meters)


async def phase_tracing(bench: Bench) -> None:
    """The cost of tracing at 10 % sampling (metrics on in both): the publisher makes each
    change inside a server span sampled at 10 %, as the API does, so every event carries a
    stored trace context, and the worker's attempt spans join it; spans are exported to a sink
    that drops them (what the processes pay, the network aside). One tracing, the worker's and
    the inline publisher's, switched off and on slice by slice (:func:`harness.spans.switch`:
    off, it is ``Tracing()``); a publisher process switches its own on SIGUSR1/SIGUSR2."""
    traced = sink_tracing(0.1)
    control = bench.config.control
    publishers: list[int] = []

    def switch(on: bool) -> None:
        on = on and not control
        spans.switch(traced, on)
        for pid in publishers:
            os.kill(pid, signal.SIGUSR1 if on else signal.SIGUSR2)

    try:
        await _sliced(bench, "tracing", switch, 10.0, tracing=traced, publishers=publishers)
    finally:
        traced.shutdown()


async def _sliced(
    bench: Bench,
    what: str,
    switch: Callable[[bool], None],
    target_pct: float,
    *,
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
    publishers: list[int] | None = None,
) -> None:
    """One sustained run, ``what`` switched off and on every ``--slice`` seconds for
    ``--pairs`` pairs (:mod:`harness.slices`: both ways share the worker, the publisher, the
    database's size and the machine's load of the same seconds); each slice's deliveries/s
    and this process's CPU per delivery (the worker's, and on SQLite the publisher's too).
    ``metrics``/``tracing``: the worker's and the inline publisher's; ``publishers`` is
    filled with the publisher processes' pids, for ``switch`` to signal."""
    config = bench.config
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency)
    await _settle(bench.db)
    plan = PublishPlan(
        mode="flood",
        duration=config.warmup + 2 * config.pairs * config.slice_s + SLICES_SLACK_S,
        tasks=config.publish_tasks,
        max_backlog=config.max_backlog,
        traced=0.1 if tracing is not None else 0.0,
        switched=tracing is not None,
    )

    def read() -> dict[str, float]:
        return {"sent": worker.sent, "cpu": time.process_time()}

    built = {"metrics": metrics if metrics is not None else True, "tracing": tracing}
    async with worker_running(bench.db, bench.box, config.concurrency, **built) as worker:
        publisher = Publisher(
            bench.db,
            worker,
            plan,
            bench.publisher,
            config.publishers,
            metrics=metrics,
            tracing=tracing,
        )
        try:
            await publisher.start()
            if publishers is not None:
                publishers += publisher.pids
            await asyncio.sleep(config.warmup)
            sliced = await slices.alternate(
                switch, read, pairs=config.pairs, slice_s=config.slice_s
            )
        finally:
            publisher.stop()
    await endpoints.delete(endpoint.id, now=utcnow())

    def rate(s: slices.Slice) -> float:
        return s.delta("sent") / s.seconds

    def cpu(s: slices.Slice) -> float:
        return s.delta("cpu") / max(s.delta("sent"), 1) * 1e6

    for s in sliced:
        print(
            f"  {what} pair {s.pair} {'on' if s.on else 'off'}: {rate(s):,.0f}/s,"
            f" {cpu(s):,.0f} us CPU per delivery",
            flush=True,
        )
    for on, name in ((False, "off"), (True, "on")):
        figures = [s for s in sliced if s.on == on]
        sent = sum(s.delta("sent") for s in figures)
        bench.row(
            f"sustained, {what} {name}",
            median(rate(s) for s in figures),
            "deliveries/s",
            note=f"median of {len(figures)} slices of {config.slice_s:g} s, {sent:,.0f} sent",
        )
        bench.row(f"CPU per delivery, {what} {name}", median(cpu(s) for s in figures), "us")
    for label, paired in (
        ("deliveries/s", slices.paired(sliced, rate, higher_is_worse=False)),
        ("CPU per delivery", slices.paired(sliced, cpu, higher_is_worse=True)),
    ):
        _cost_rows(bench, what, label, paired, target_pct)


async def _queue_orders(orders: OrderRepository, tracing: Tracing | None, count: int) -> None:
    """``count`` orders (8 at a time), each created inside a server span of its own when
    ``tracing`` is given."""
    left = count

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if tracing is None:
                await create_order(orders)
                continue
            with tracing.request("POST /v1/orders", {}):
                await create_order(orders)

    # queueing 30,000 orders takes longer than a measured loop on a loaded machine
    await asyncio.wait_for(asyncio.gather(*(loop() for _ in range(8))), QUEUE_DEADLINE_S)


async def phase_metrics_drain(bench: Bench) -> None:
    """The worker's own cost of metrics (tracing off in both), by drains: steadier than the
    sustained pairs of :func:`phase_metrics`, whose rounds on SQLite swing by ±10 % with the
    inline publisher in the same process."""
    on = not bench.config.control
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "off": lambda: {"metrics": False},
        "on": lambda: {"metrics": on},
    }
    await _drain_pairs(bench, "metrics", variants, 3.0, publishing=None)


async def phase_tracing_drain(bench: Bench) -> None:
    """The worker's own cost of tracing at 10 % (metrics on in both), by drains of events
    queued inside server spans sampled at 10 % (each with a stored trace context)."""
    publishing = sink_tracing(0.1)
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "off": lambda: {},
        "on": lambda: {"tracing": sink_tracing(0.1)},
    }
    try:
        await _drain_pairs(bench, "tracing", variants, 10.0, publishing=publishing)
    finally:
        publishing.shutdown()


async def _settle(db: Database) -> None:
    """Every measurement of a pair starts from the same table state: on PostgreSQL the rows a
    drain updated are vacuumed first (a server with autovacuum off, as this machine's, would
    otherwise carry each drain's dead rows into the next, a drift that favours neither variant
    but moves every pair). SQLite updates in place: nothing to do."""
    if db.dialect == "postgresql":
        async with db.connection() as conn:
            await conn.execute("VACUUM ANALYZE deliveries, events, orders")


def _cost_rows(bench: Bench, what: str, label: str, paired: Paired, target_pct: float) -> None:
    bench.row(
        f"{what} cost, {label}",
        paired.median,
        "%",
        target=f"<= {target_pct:g}",
        # neither when the interval straddles the target: the rounds do not resolve it
        met={"MET": True, "NOT MET": False}.get(paired.verdict(target_pct)),
        note=f"{paired.verdict(target_pct)}: {paired.note()}",
    )


async def _drain_pairs(
    bench: Bench,
    what: str,
    variants: dict[str, Callable[[], dict[str, Any]]],
    target_pct: float,
    *,
    publishing: Tracing | None,
) -> None:
    """The worker's own cost of ``what``, the publisher and its noise left out: N events
    queued, then drained by a worker built each way (``variants``: its keyword arguments, made
    anew per drain); the worker process's CPU per delivery, alternating which goes first in
    each round, over an even number of rounds (the table grows by N rows a drain: the second
    of a pair always drains a bigger one), after a drain that is not counted. The cost is the
    median of the rounds' on/off ratios, with the mean's 95 % interval and the order effect
    (:mod:`harness.paired`)."""
    config = bench.config
    count = min(bench.events, 30_000)  # a drain of a second or less swings by ±10 %: --events
    orders = OrderRepository(bench.db)
    cpus: dict[str, list[float]] = {"off": [], "on": []}
    # The process's first drain pays its one-time costs (modules imported on first use, first
    # connections, caches) and was always "off" in round 0: one drain first, not counted.
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency)
    await _queue_orders(orders, publishing, min(count, 2_000))
    async with worker_running(bench.db, bench.box, config.concurrency, **variants["off"]()) as w:
        await wait_succeeded(
            bench, w, endpoint.id, min(count, 2_000), time.perf_counter() + PHASE_DEADLINE_S
        )
    await endpoints.delete(endpoint.id, now=utcnow())
    for round_ in range(even(config.rounds)):
        for name in first(round_, ("off", "on")):
            endpoints = EndpointRepository(bench.db, bench.box)
            endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency)
            await _queue_orders(orders, publishing, count)
            await _settle(bench.db)
            options = variants[name]()
            async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
                async with worker_running(
                    bench.db, bench.box, config.concurrency, **options
                ) as worker:
                    done = await wait_succeeded(
                        bench, worker, endpoint.id, count, time.perf_counter() + PHASE_DEADLINE_S
                    )
            cpus[name].append(cpu.own / max(done, 1) * 1e6)
            tracing = options.get("tracing")
            if tracing is not None:
                tracing.shutdown()
            print(
                f"  {what} drain {name}: {cpus[name][-1]:,.0f} us CPU per delivery"
                f" ({cpu.by_thread(done)}), {done:,} delivered,"
                f" {batching(worker, 0, 0, done)}; load average {loadavg()}",
                flush=True,
            )
            await endpoints.delete(endpoint.id, now=utcnow())
    for name, figures in cpus.items():
        note = ", ".join(f"{c:,.0f}" for c in figures)
        bench.row(f"drain CPU per delivery, {what} {name}", median(figures), "us", note=note)
    paired = Paired.of(cpus["off"], cpus["on"], higher_is_worse=True)
    _cost_rows(bench, what, "drain CPU per delivery", paired, target_pct)


async def phase_latency(bench: Bench) -> None:
    """At the target's rate, then at a rate this machine sustains (the pipeline's own latency,
    without a publisher that cannot keep up)."""
    await measure_latency(bench, bench.config.latency_rate, judged=True)
    await measure_latency(bench, bench.config.latency_rate_low, judged=False)


HANGING_BACKLOG = 2_000  # isolation phase: deliveries queued for an endpoint that never answers


async def phase_isolation(bench: Bench) -> None:
    """A healthy endpoint's latency at the low rate, alone and then beside an endpoint that
    accepts connections and never answers, with a backlog of :data:`HANGING_BACKLOG` deliveries
    (its in-flight slots all hang for the send timeout): the ratio of the two p99s."""
    alone = await measure_latency(bench, bench.config.latency_rate_low, judged=False)
    beside = await measure_latency(
        bench, bench.config.latency_rate_low, judged=False, hanging=HANGING_BACKLOG
    )
    if alone and beside:
        bench.row(
            "isolation: healthy p99 beside a hanging endpoint / alone",
            beside / alone,
            "x",
            target="<= 2",
            met=beside / alone <= 2.0,
            note=f"{beside:.1f} ms / {alone:.1f} ms; hanging backlog {HANGING_BACKLOG:,}",
        )


async def _hang(
    released: asyncio.Event, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Read a request, never answer it; end once ``released``. A handler still waiting when the
    loop closes would be cancelled, and Python 3.11's asyncio prints a traceback for each."""
    with contextlib.suppress(Exception):
        await reader.read(65536)
        await asyncio.wait_for(released.wait(), PHASE_DEADLINE_S)
    writer.close()


async def measure_latency(
    bench: Bench, rate: float, *, judged: bool, hanging: int = 0
) -> float | None:
    """The latency rows at ``rate``; with ``hanging``, beside an endpoint that never answers and
    has that many deliveries queued first. Returns the p99 in ms."""
    config = bench.config
    endpoints = EndpointRepository(bench.db, bench.box)
    stuck: Endpoint | None = None
    released = asyncio.Event()  # the hanging endpoint's connections end after the worker stops
    if hanging:
        server = await asyncio.start_server(functools.partial(_hang, released), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stuck = await make_endpoint(endpoints, f"http://127.0.0.1:{port}/hang", 50)
        await queue_orders(OrderRepository(bench.db), hanging)
    endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency)
    plan = PublishPlan(mode="paced", duration=config.latency_seconds, rate=rate)
    await bench.fast.call(bench.http, "POST", "/__record")
    async with worker_running(bench.db, bench.box, config.concurrency) as worker:
        if hanging:
            await asyncio.sleep(2.0)  # claimed: its 50 slots hang, its queue is full
        publisher = Publisher(bench.db, worker, plan, bench.publisher)
        try:
            async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
                await publisher.start()
                published = await publisher.result()
        finally:
            publisher.stop()
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:
            stats = await bench.fast.call(bench.http, "GET", "/__stats")
            if stats["received"] >= published.events:
                break
            await asyncio.sleep(0.05)
        batches = batching(worker, 0, 0, worker.sent)
        if stuck is not None:  # its sends still hang: cancel what waits before the worker stops
            await endpoints.delete(stuck.id, now=utcnow())
            server.close()
    released.set()
    arrivals: dict[str, float] = await bench.fast.call(bench.http, "GET", "/__arrivals")
    await bench.fast.call(bench.http, "POST", "/__reset")
    await endpoints.delete(endpoint.id, now=utcnow())
    if bench.publisher == "process":
        cpu.extra = published.cpu_total
    matched = [
        (arrivals[event_id], created, returned)
        for event_id, created, returned in published.stamps
        if event_id in arrivals
    ]
    missing = len(published.stamps) - len(matched)
    achieved = published.events / published.elapsed
    at = f"@ {rate:,.0f}/s" + (
        f" beside a hanging endpoint ({hanging:,} queued)" if hanging else ""
    )
    pace = f"{rate:,.0f} events/s offered, {achieved:,.0f} achieved"
    if not matched:
        bench.row(f"latency p99 {at}", None, "ms", note=f"nothing matched; {pace}")
        return None
    waits = [(arrived - returned) * 1000 for arrived, _, returned in matched]
    upper = [(arrived - created) * 1000 for arrived, created, _ in matched]
    p99 = percentile(waits, 99)
    target, met = "", None
    if judged:
        target = f"<= {TARGETS['latency_p99_ms']:.0f}"
        # not met either when the offered rate was not reached: nothing shows it would be
        met = p99 <= TARGETS["latency_p99_ms"] and missing == 0 and achieved >= 0.95 * rate
    bench.row(f"latency p50 {at}", percentile(waits, 50), "ms", note=pace)
    bench.row(
        f"latency p99 {at}",
        p99,
        "ms",
        target=target,
        met=met,
        note=f"{len(matched):,} matched, {missing} missing; max {max(waits):.0f} ms,"
        f" min {min(waits):.1f} ms; {batches}",
    )
    bench.row(
        f"latency p99 from created_at {at}",
        percentile(upper, 99),
        "ms",
        note=f"includes the publish transaction; publisher {bench.publisher}; {cpu.note()}",
    )
    return p99


async def phase_slow(bench: Bench) -> None:
    config = bench.config
    count = bench.slow_events
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, bench.slow.url, config.slow_concurrency)
    await queue_orders(OrderRepository(bench.db), count)
    await bench.slow.call(bench.http, "POST", "/__reset")
    peak = 0
    async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
        async with worker_running(bench.db, bench.box, config.slow_concurrency) as worker:
            waiting = asyncio.create_task(
                wait_succeeded(
                    bench, worker, endpoint.id, count, time.perf_counter() + PHASE_DEADLINE_S
                )
            )
            while not waiting.done():
                stats = await bench.slow.call(bench.http, "GET", "/__stats")
                peak = max(peak, stats["received"] - stats["count"])
                await asyncio.sleep(0.1)
            done = await waiting
            elapsed = cpu.elapsed()
            batches = batching(worker, 0, 0, worker.sent)
    rate = done / elapsed
    bench.row(
        "slow receiver (250 ms)",
        rate,
        "deliveries/s",
        target=f">= {TARGETS['slow']:,.0f}",
        met=rate >= TARGETS["slow"],
        note=f"{done:,} of {count:,} in {elapsed:.2f} s, concurrency {config.slow_concurrency}",
    )
    bench.row(
        "slow receiver: peak in flight",
        peak,
        "requests",
        note=f"seen by the receiver; {cpu.note()}",
    )
    bench.row("slow receiver: CPU per delivery", cpu.own / max(done, 1) * 1e6, "us", note=batches)
    event_id, payload = await one_payload(bench.db)
    secret = endpoint.secrets[0].value.reveal()
    async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
        bare, sent = await bare_loop(
            bench.slow.url, event_id, payload, secret, count, config.slow_concurrency
        )
    bench.row(
        "bare loop to the 250 ms receiver",
        bare,
        "requests/s",
        note=f"concurrency {config.slow_concurrency}; {cpu.own / max(sent, 1) * 1e6:,.0f} us CPU"
        f" per request; {cpu.note()}",
    )
    bench.figures["slow"], bench.figures["slow_bare"] = rate, bare
    bench.row("slow receiver / bare loop", rate / bare if bare else 0.0, "x")
    await endpoints.delete(endpoint.id, now=utcnow())


# --- several worker processes (PostgreSQL) ---------------------------------------------------

WORKER_PROCESSES = 2  # the drain2 and slow2 phases


@dataclass(frozen=True)
class ProcessesRun:
    """A phase run with worker processes beside this one."""

    rate: float  # deliveries/s
    done: int  # deliveries succeeded in the database
    workers_cpu: float  # CPU seconds of the worker processes
    cpu: float  # ... with the publisher process (if any) and PostgreSQL's backends
    received: int  # requests the receiver read
    duplicates: int  # requests whose webhook-id the receiver had read before
    note: str


async def _received(receiver: ReceiverProcess, http: aiohttp.ClientSession) -> tuple[int, int]:
    """(requests read, requests repeating a webhook-id) since ``/__record``; then reset."""
    stats = await receiver.call(http, "GET", "/__stats")
    await receiver.call(http, "POST", "/__reset")
    return stats["received"], stats["duplicates"]


async def drain_with_processes(
    bench: Bench, receiver: ReceiverProcess, count: int, concurrency: int, processes: int
) -> ProcessesRun:
    """Queue ``count`` orders, then drain them with ``processes`` worker processes of
    ``concurrency`` each, started together; the clock runs until all are succeeded."""
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, receiver.url, concurrency * processes)
    await queue_orders(OrderRepository(bench.db), count)
    await receiver.call(bench.http, "POST", "/__record")
    workers = WorkerProcesses(
        bench.db.url, bench.key, processes, concurrency, limit_s=PHASE_DEADLINE_S + 5
    )
    async with workers:
        before = workers.cpu()
        async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
            workers.go()
            deadline = time.perf_counter() + PHASE_DEADLINE_S
            succeeded = 0
            while time.perf_counter() < deadline:
                succeeded = await count_succeeded(bench.db, endpoint.id)
                if succeeded >= count:
                    break
                await asyncio.sleep(0.02)
            elapsed = cpu.elapsed()
            cpu.extra = workers.cpu() - before
    received, duplicates = await _received(receiver, bench.http)
    await endpoints.delete(endpoint.id, now=utcnow())
    note = (
        f"{succeeded:,} of {count:,} in {elapsed:.2f} s; attempts per process {workers.sent},"
        f" claims {workers.claims}; {cpu.note().replace('publisher', 'worker processes')}"
    )
    return ProcessesRun(
        rate=succeeded / elapsed,
        done=succeeded,
        workers_cpu=cpu.extra,
        cpu=cpu.extra + cpu.postgres,
        received=received,
        duplicates=duplicates,
        note=note,
    )


async def sustained_with_processes(bench: Bench, processes: int) -> ProcessesRun:
    """The sustained phase with ``processes`` worker processes beside a publisher process."""
    config = bench.config
    endpoints = EndpointRepository(bench.db, bench.box)
    endpoint = await make_endpoint(endpoints, bench.fast.url, config.concurrency * processes)
    plan = PublishPlan(
        mode="flood",
        duration=config.warmup + config.window,
        tasks=config.publish_tasks,
        max_backlog=config.max_backlog,
    )
    await bench.fast.call(bench.http, "POST", "/__record")
    workers = WorkerProcesses(
        bench.db.url,
        bench.key,
        processes,
        config.concurrency,
        limit_s=plan.duration + PHASE_DEADLINE_S,
    )
    async with workers:
        workers.go()
        publisher = Publisher(bench.db, None, plan, "process", processes=config.publishers)
        try:
            await publisher.start()
            await asyncio.sleep(config.warmup)
            before_cpu = workers.cpu()
            async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
                before = await count_succeeded(bench.db, endpoint.id)
                await asyncio.sleep(config.window)
                after = await count_succeeded(bench.db, endpoint.id)
                window = cpu.elapsed()
                workers_cpu = workers.cpu() - before_cpu
            published = await publisher.result()
        finally:
            publisher.stop()
    received, duplicates = await _received(bench.fast, bench.http)
    await endpoints.delete(endpoint.id, now=utcnow())
    publisher_cpu = published.cpu * window / max(published.elapsed, 1e-9)  # prorated
    cpu.extra = workers_cpu + publisher_cpu
    done = after - before
    note = (
        f"{config.window:.0f} s window; {publisher.processes} publisher process(es) published"
        f" {published.events / published.elapsed:,.0f} events/s; attempts per process"
        f" {workers.sent}, claims {workers.claims};"
        f" {cpu.note().replace('publisher', 'workers and publisher')}"
    )
    return ProcessesRun(
        rate=done / window,
        done=done,
        workers_cpu=workers_cpu,
        cpu=cpu.extra + cpu.postgres,
        received=received,
        duplicates=duplicates,
        note=note,
    )


async def phase_drain_processes(bench: Bench) -> None:
    """The drain phase with two worker processes on one PostgreSQL (a supported deployment)."""
    if bench.backend != "postgresql":
        print("  drain, 2 worker processes: PostgreSQL only (SQLite has one writer)", flush=True)
        return
    concurrency = bench.config.concurrency
    run = await drain_with_processes(bench, bench.fast, bench.events, concurrency, WORKER_PROCESSES)
    bench.row(
        f"drain, {WORKER_PROCESSES} worker processes",
        run.rate,
        "deliveries/s",
        note=f"concurrency {concurrency} each; {run.note}",
    )
    bench.row(
        f"drain, {WORKER_PROCESSES} worker processes: CPU per delivery",
        run.workers_cpu / max(run.done, 1) * 1e6,
        "us",
        note="both processes",
    )
    if "bare" in bench.figures:
        single = bench.figures["drain"] / bench.figures["bare"]
        bench.row(
            f"drain, {WORKER_PROCESSES} processes / single-process bare loop",
            run.rate / bench.figures["bare"],
            "x",
            note=f"one process: {single:.3f}",
        )


async def phase_slow_processes(bench: Bench) -> None:
    """The slow-receiver phase with two worker processes, each at half the concurrency."""
    if bench.backend != "postgresql":
        print("  slow receiver, 2 worker processes: PostgreSQL only", flush=True)
        return
    concurrency = bench.config.slow_concurrency // WORKER_PROCESSES
    run = await drain_with_processes(
        bench, bench.slow, bench.slow_events, concurrency, WORKER_PROCESSES
    )
    bench.row(
        f"slow receiver (250 ms), {WORKER_PROCESSES} worker processes",
        run.rate,
        "deliveries/s",
        target=f">= {TARGETS['slow']:,.0f}",
        met=run.rate >= TARGETS["slow"],
        note=f"concurrency {concurrency} each; {run.note}",
    )
    bench.row(
        f"slow receiver, {WORKER_PROCESSES} worker processes: CPU per delivery",
        run.workers_cpu / max(run.done, 1) * 1e6,
        "us",
        note="both processes",
    )


async def phase_workers(bench: Bench) -> None:
    """Scale-out (``--workers N``): the drain and the sustained phase with 1, 2, ... N worker
    processes on one PostgreSQL, in ``--rounds`` rounds that alternate the order of N (the
    machine's other load drifts); per N, deliveries/s and CPU per delivery (the worker
    processes, the publisher and PostgreSQL's backends), each with its ratio to one process,
    and the attempts the receiver got twice (the same webhook-id: the target is none)."""
    if bench.backend != "postgresql":
        print("  worker processes: PostgreSQL only (SQLite has one writer)", flush=True)
        return
    config = bench.config
    counts = list(range(1, config.workers + 1))
    runs: dict[int, list[tuple[ProcessesRun, ProcessesRun]]] = {n: [] for n in counts}
    for round_ in range(config.rounds):
        for n in counts if round_ % 2 == 0 else counts[::-1]:
            print(f"  {n} worker process(es), round {round_ + 1} (load {loadavg()})", flush=True)
            drain = await drain_with_processes(
                bench, bench.fast, bench.events, config.concurrency, n
            )
            sustained = await sustained_with_processes(bench, n)
            runs[n].append((drain, sustained))
            for what, run in (("drain", drain), ("sustained", sustained)):
                print(
                    f"    {what}: {run.rate:,.0f}/s, {run.cpu / max(run.done, 1) * 1e6:,.0f} us"
                    f" CPU per delivery, {run.duplicates} sent twice [{run.note}]",
                    flush=True,
                )
    table: list[tuple[int, list[float | int]]] = []
    for n in counts:
        figures: list[float | int] = []
        twice = 0
        processes = f"{n} worker process{'es' if n > 1 else ''}"
        for index, what in enumerate(("drain", "sustained")):
            done = [pair[index] for pair in runs[n]]
            rate = sum(r.rate for r in done) / len(done)
            cpu_us = sum(r.cpu for r in done) / max(sum(r.done for r in done), 1) * 1e6
            twice += sum(r.duplicates for r in done)
            figures += [rate, cpu_us]
            rates = ", ".join(f"{r.rate:,.0f}" for r in done)
            bench.row(f"{what}, {processes}", rate, "deliveries/s", note=rates)
            bench.row(
                f"{what}, {processes}: CPU per delivery",
                cpu_us,
                "us",
                note="worker processes"
                + (", publisher" if what == "sustained" else "")
                + " and PostgreSQL",
            )
        bench.row(
            f"{processes}: attempts sent twice",
            twice,
            "requests",
            target="0",
            met=twice == 0,
            note="same webhook-id read twice by the receiver, drain and sustained",
        )
        table.append((n, [*figures, twice]))
    print(
        scale_table(
            "workers",
            ["drain/s", "drain CPU us", "sustained/s", "sustained CPU us", "sent twice"],
            table,
            ratios=4,
        ),
        flush=True,
    )


async def phase_partners(bench: Bench) -> None:
    """Drain and sustained with the orders spread round-robin over 1 partner, then over
    ``--partners`` N, each partner with two endpoints, plus one all-partners operator endpoint
    (three deliveries per event). Both sets of tenants are made once and put away in turn;
    with ``--rounds`` R the two alternate R times, which one goes first alternating too. The
    target is judged on the median of the rounds' own ratios (N against 1 in the same round,
    minutes apart): the rates drift between rounds as the database grows and the machine's
    speed moves (one quiet run's PostgreSQL sustained rounds fell from ~4,700 to ~3,300/s for
    both counts at round 6), which a ratio of the two medians mixes in and a round's pair
    cancels; the ratio of the medians is printed beside it. Beside deliveries/s, the worker
    process's CPU per delivery, which other load disturbs less."""
    config = bench.config
    counts = sorted({1, config.partners})
    endpoints = EndpointRepository(bench.db, bench.box)
    figures: dict[tuple[str, int], list[float]] = {}
    async for _, count, partners in alternating_tenants(
        bench.db, endpoints, bench.fast.url, config.partners, config.rounds, config.concurrency
    ):
        for name, measure in (("drain", _partners_drain), ("sustained", _partners_sustained)):
            rate, cpu_us = await measure(bench, partners)
            figures.setdefault((name, count), []).append(rate)
            figures.setdefault((f"{name} CPU", count), []).append(cpu_us)
    for name in ("drain", "sustained"):
        for count in counts:
            rates, cpus = figures[(name, count)], figures[(f"{name} CPU", count)]
            spread = ", ".join(f"{r:,.0f}" for r in rates)
            bench.row(
                f"{name}, {count:,} partner{'s' if count > 1 else ''}",
                median(rates),
                "deliveries/s",
                note=f"median of {spread}; {2 * count + 1:,} endpoints; CPU per delivery"
                f" {', '.join(f'{c:,.0f}' for c in cpus)} us",
            )
        if len(counts) == 2:
            ones, manys = (figures[(name, c)] for c in counts)
            rounds = [many / one if one else 0.0 for one, many in zip(ones, manys, strict=True)]
            ratio = median(rounds)
            bench.row(
                f"{name}, {config.partners:,} partners / 1 partner",
                ratio,
                "x",
                target=">= 0.9",
                met=ratio >= 0.9,
                note="median of the rounds' ratios "
                + ", ".join(f"{r:.2f}" for r in rounds)
                + f"; ratio of the medians {median(manys) / median(ones):.3f}",
            )
            many, one = (median(figures[(f"{name} CPU", c)]) for c in counts[::-1])
            bench.row(
                f"{name}, CPU per delivery, 1 partner / {config.partners:,}",
                one / many if many else 0.0,
                "x",
                note="medians; above 1: the many partners cost less CPU",
            )


def _io() -> dict[str, int]:
    """This process's write calls and bytes read and written (``/proc/self/io``): on SQLite,
    each page a commit dirties is a WAL write, and the checkpoint reads and writes it again."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {name: int(fields[name]) for name in ("syscw", "wchar", "rchar")}


def _io_note(before: dict[str, int], count: int) -> str:
    after, per = _io(), max(count, 1)
    return (
        f"I/O per delivery {(after['syscw'] - before['syscw']) / per:.2f} writes,"
        f" {(after['wchar'] - before['wchar']) / per / 1024:.1f} KiB written,"
        f" {(after['rchar'] - before['rchar']) / per / 1024:.1f} KiB read"
    )


async def _partners_drain(bench: Bench, partners: list[str]) -> tuple[float, float]:
    """Orders queued round-robin over ``partners``, then a worker drains them: (deliveries/s,
    worker CPU per delivery in us)."""
    config = bench.config
    orders = max(1, bench.events // 3)
    since = to_us(utcnow())
    queued = await queue_partner_orders(OrderRepository(bench.db), partners, orders)
    wanted = orders * 3
    io = _io()
    async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
        async with worker_running(bench.db, bench.box, config.concurrency) as worker:
            deadline = time.perf_counter() + PHASE_DEADLINE_S
            # the worker's own count first: the database's (a count of every delivery that
            # succeeded since, in this process on SQLite) only once they are all sent
            while worker.sent < wanted and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            done = 0
            while time.perf_counter() < deadline:
                done = await count_succeeded_since(bench.db, since)
                if done >= wanted:
                    break
                await asyncio.sleep(0.02)
            elapsed = cpu.elapsed()
            batches = batching(worker, 0, 0, worker.sent)
            io_note = _io_note(io, done)
    rate, cpu_us = done / elapsed, cpu.own / max(done, 1) * 1e6
    print(
        f"  drain, {len(partners):,} partners: {rate:,.0f} deliveries/s, {cpu_us:,.0f} us CPU"
        f" per delivery [{done:,} of {wanted:,} in {elapsed:.2f} s; {orders:,} orders queued at"
        f" {queued:,.0f}/s; {batches}; {io_note}; {cpu.note()}]",
        flush=True,
    )
    return rate, cpu_us


async def _partners_sustained(bench: Bench, partners: list[str]) -> tuple[float, float]:
    """A flood publisher (create + 2 changes per order, orders round-robin over ``partners``)
    while a worker delivers; then the backlog is drained, unmeasured, so that the next
    measurement starts empty: (deliveries/s, worker CPU per delivery in us)."""
    config = bench.config
    plan = PublishPlan(
        mode="flood",
        duration=config.warmup + config.window,
        tasks=config.publish_tasks,
        max_backlog=config.max_backlog,
        partners=tuple(partners),
    )
    since = to_us(utcnow())
    async with worker_running(bench.db, bench.box, config.concurrency) as worker:
        publisher = Publisher(bench.db, worker, plan, bench.publisher)
        try:
            await publisher.start()
            await asyncio.sleep(config.warmup)
            async with CpuMeter(bench.db, bench.receiver_pids) as cpu:
                before, sent = await count_succeeded_since(bench.db, since), worker.sent
                claims, records = worker.claims, worker.record_batches
                io = _io()
                await asyncio.sleep(config.window)
                after = await count_succeeded_since(bench.db, since)
                sent = worker.sent - sent
                batches = batching(worker, claims, records, sent)
                io_note = _io_note(io, sent)
                window = cpu.elapsed()
            published = await publisher.result()
        finally:
            publisher.stop()
        deadline = time.perf_counter() + PHASE_DEADLINE_S
        while await count_waiting(bench.db) and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    if bench.publisher == "process":  # the publisher's CPU, prorated to the window
        cpu.extra = published.cpu * window / max(published.elapsed, 1e-9)
    rate, cpu_us = (after - before) / window, cpu.own / max(sent, 1) * 1e6
    print(
        f"  sustained, {len(partners):,} partners: {rate:,.0f} deliveries/s, {cpu_us:,.0f} us"
        f" CPU per delivery [{config.window:.0f} s window, publisher {bench.publisher},"
        f" {published.events / published.elapsed:,.0f} events/s published; {batches};"
        f" {io_note}; {cpu.note()}]",
        flush=True,
    )
    return rate, cpu_us


PHASES = {
    "partners": phase_partners,
    "drain": phase_drain,
    "sustained": phase_sustained,
    "latency": phase_latency,
    "isolation": phase_isolation,
    "slow": phase_slow,
    "drain2": phase_drain_processes,
    "slow2": phase_slow_processes,
    "workers": phase_workers,
    "metrics": phase_metrics,
    "tracing": phase_tracing,
    "tracing_drain": phase_tracing_drain,
    "metrics_drain": phase_metrics_drain,
}
DEFAULT_PHASES = "drain,sustained,latency,slow,drain2,slow2"


# --- main -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, config: Config) -> Report:
    report = Report()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    phases = [PHASES[name] for name in args.phases.split(",")]
    for line in machine(PACKAGES):
        print(line)
    if "postgresql" in backends:
        print(f"PostgreSQL {await postgres_version(args.postgres_url)}")
    fast, slow = ReceiverProcess(0.0), ReceiverProcess(SLOW_DELAY_S)
    try:
        fast.start()
        slow.start()
        async with aiohttp.ClientSession() as http:
            for backend in backends:
                print(f"\n== {backend} == (load average {loadavg()})", flush=True)
                async with fresh_database(backend, args.postgres_url) as db:
                    key = secrets.token_bytes(32)
                    bench = Bench(
                        backend=backend,
                        db=db,
                        box=SecretBox(key),
                        key=key,
                        fast=fast,
                        slow=slow,
                        http=http,
                        config=config,
                        report=report,
                    )
                    await make_history(db, bench.box, config.history)
                    for phase in phases:
                        await phase(bench)
    finally:
        fast.stop()
        slow.stop()
    return report


def main() -> None:
    defaults = Config()
    parser = argparse.ArgumentParser(description="rampwire delivery engine benchmark")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--phases",
        default=None,
        help=f"comma-separated, of: {', '.join(PHASES)} (default:"
        f" {DEFAULT_PHASES}; with --workers alone: workers)",
    )
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin connection")
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--window", type=float, default=defaults.window)
    parser.add_argument("--slow-events", type=int, default=defaults.slow_events)
    parser.add_argument("--slow-concurrency", type=int, default=defaults.slow_concurrency)
    parser.add_argument(
        "--publisher", choices=["auto", "inline", "process"], default=defaults.publisher
    )
    parser.add_argument(
        "--publish-tasks",
        type=int,
        default=defaults.publish_tasks,
        help="sustained: concurrent API callers per publisher process, each creating an order"
        " and changing it twice",
    )
    parser.add_argument(
        "--publishers",
        type=int,
        default=defaults.publishers,
        help="sustained: publisher processes (API nodes), each with --publish-tasks callers"
        " (with --publisher process)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=defaults.history,
        help="delivered orders in the database before the first phase (0: a new database)",
    )
    parser.add_argument(
        "--partners",
        type=int,
        default=0,
        help="add the partners phase: drain and sustained with orders over 1 partner, then N",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="scale-out on PostgreSQL: drain and sustained with 1 .. N worker processes (only"
        " that phase, unless --phases names others)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="metrics, tracing and their drain phases: off in both variants (an A/A run)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=defaults.rounds,
        help="metrics, tracing, workers and partners phases: rounds, alternating which goes first",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=defaults.pairs,
        help="metrics and tracing phases: pairs of slices (off, on) in their one sustained run",
    )
    parser.add_argument(
        "--slice",
        type=float,
        default=defaults.slice_s,
        help="metrics and tracing phases: seconds each way in a pair",
    )
    args = parser.parse_args()
    if args.phases is None:
        args.phases = "workers" if args.workers else DEFAULT_PHASES
    elif args.workers and "workers" not in args.phases.split(","):
        args.phases += ",workers"
    if args.partners and "partners" not in args.phases.split(","):
        args.phases += ",partners"
    config = Config(
        history=args.history,
        events=args.events,
        concurrency=args.concurrency,
        window=args.window,
        slow_events=args.slow_events,
        slow_concurrency=args.slow_concurrency,
        publisher=args.publisher,
        publish_tasks=args.publish_tasks,
        publishers=args.publishers,
        partners=args.partners,
        workers=args.workers,
        rounds=args.rounds,
        control=args.control,
        pairs=args.pairs,
        slice_s=args.slice,
    )
    started = time.perf_counter()
    with heap.settled():  # the worker's process, as in `rampwire worker`
        report = uvloop.run(run(args, config))
    print(f"\n{report.table()}")
    print(f"\nload average at the end: {loadavg()}")
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
