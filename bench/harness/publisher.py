"""Publishing while a worker delivers: a flood of orders each changed twice (as fast as a
backlog bound allows), or ``order.created`` events at a paced rate with each one's publish time
recorded; in the worker's process (``rampwire serve``, the embedded mode) or in a separate one
(an API node beside ``rampwire worker``, woken through NOTIFY), or in several such processes
(API nodes: ``processes``), so that publishing is not what bounds a sustained figure."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from rampwire import heap
from rampwire.domain.orders import OrderStatus
from rampwire.metrics import Metrics
from rampwire.repository import OrderRepository
from rampwire.services.worker import Worker
from rampwire.storage import Database, open_database
from rampwire.tracing import Tracing

from .children import stop_children
from .spans import sink_tracing, switch_on_signals
from .workload import change_order, count_waiting, create_order

STOP_DEADLINE_S = 30.0  # a publisher process gets this long to stop
# How often each flood publisher reads the backlog for its bound. Each read is a count over the
# due index, ~5 ms of PostgreSQL's CPU under load: at 0.1 s, four publishers spent 9-20 us of
# PostgreSQL's CPU per delivery on it (pg_stat_statements), CPU taken from what is measured.
BACKLOG_EVERY_S = 0.5


@dataclass(frozen=True)
class PublishPlan:
    mode: str  # "flood": as fast as the backlog bound allows; "paced": ``rate`` events/s
    duration: float
    rate: float = 0.0
    tasks: int = 8
    max_backlog: int = 5_000
    max_pending: int = 32  # paced: publish calls in flight at most (then the pace slips)
    partners: tuple[str, ...] = ()  # orders go round-robin to these partners (none: operator's)
    # > 0: each create and change inside a server span sampled at this ratio, as the API does,
    # so the events carry a stored trace context (rampwire.tracing.trace_context)
    traced: float = 0.0
    # with ``traced``, in a publisher process: SIGUSR1 turns its tracing on, SIGUSR2 off
    switched: bool = False


@dataclass
class PublishResult:
    events: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0  # CPU seconds of the publishing process while it published
    cpu_total: float = 0.0  # ... and since it started (imports included), for a process
    behind: int = 0  # paced: times the publisher could not keep the pace
    # paced: (event id, event created_at, publish call returned), UNIX times
    stamps: list[tuple[str, float, float]] = field(default_factory=list)


async def publish(
    db: Database,
    orders: OrderRepository,
    plan: PublishPlan,
    started: Callable[[], None],
    tracing: Tracing | None = None,
) -> PublishResult:
    """``tracing``: the spans the changes are made in (default: ``plan.traced``'s own)."""
    result = PublishResult()
    owned = tracing is None and plan.traced > 0
    if owned:
        tracing = sink_tracing(plan.traced)
        if plan.switched:
            switch_on_signals(tracing)

    def span(name: str) -> contextlib.AbstractContextManager[None]:
        return tracing.request(name, {}) if tracing else contextlib.nullcontext()

    cpu = time.process_time()
    start = time.monotonic()
    deadline = start + plan.duration
    owners = itertools.cycle(plan.partners or [None])
    started()
    if plan.mode == "flood":
        backlog = 0
        stopped = asyncio.Event()

        async def watch() -> None:
            nonlocal backlog
            while not stopped.is_set():
                backlog = await count_waiting(db)
                await asyncio.sleep(BACKLOG_EVERY_S)

        async def loop() -> None:
            while time.monotonic() < deadline:
                if backlog >= plan.max_backlog:
                    await asyncio.sleep(0.01)
                    continue
                with span("POST /v1/orders"):
                    order_id, *_ = await create_order(orders, next(owners))
                result.events += 1
                for status in (OrderStatus.PROCESSING, OrderStatus.COMPLETED):
                    with span("POST /v1/orders/{id}/changes"):
                        made = await change_order(orders, order_id, status)
                    result.events += made  # not "+= await": that loses concurrent updates

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.gather(*(loop() for _ in range(plan.tasks)))
        finally:
            stopped.set()
            await watcher
    else:
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            _, event_id, created, committed = await create_order(orders, next(owners))
            result.stamps.append((event_id, created, committed))
            result.events += 1

        total = int(plan.rate * plan.duration)
        for index in range(total):
            due = start + index / plan.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > deadline + 5:
                break
            if len(pending) >= plan.max_pending:
                result.behind += 1
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=STOP_DEADLINE_S)
    if owned and tracing is not None:
        tracing.shutdown()
    result.elapsed = time.monotonic() - start
    result.cpu = time.process_time() - cpu
    result.cpu_total = time.process_time()
    return result


def _publisher_process(url: str, plan: dict[str, Any], out: str, ready: Any) -> None:
    """A separate publishing process (an API node): its own pool, woken workers via NOTIFY."""

    async def main() -> None:
        db = open_database(url)
        await db.open()
        try:
            plan["partners"] = tuple(plan["partners"])
            result = await publish(db, OrderRepository(db), PublishPlan(**plan), ready.set)
        finally:
            await db.close()
        Path(out).write_text(json.dumps(asdict(result)))

    with heap.settled():  # as in `rampwire serve` and `rampwire worker`
        uvloop.run(main())


def merged(results: list[PublishResult]) -> PublishResult:
    """The results of several publisher processes run together, as one publisher's: events,
    CPU and stamps added, the longest elapsed time (they start and stop together)."""
    return PublishResult(
        events=sum(r.events for r in results),
        elapsed=max(r.elapsed for r in results),
        cpu=sum(r.cpu for r in results),
        cpu_total=sum(r.cpu_total for r in results),
        behind=sum(r.behind for r in results),
        stamps=[stamp for r in results for stamp in r.stamps],
    )


class Publisher:
    """Runs :func:`publish` inline (sharing the worker's loop and database) or in
    ``processes`` processes, each with the whole plan (its ``tasks`` callers)."""

    def __init__(
        self,
        db: Database,
        worker: Worker | None,
        plan: PublishPlan,
        where: str,
        processes: int = 1,
        *,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """``worker``: the worker to wake when publishing inline (None: processes);
        ``metrics``: what the inline publisher's group commits count into, as the API's do;
        ``tracing``: the inline publisher's spans (default: the plan's)."""
        self._db, self._worker, self._plan, self.where = db, worker, plan, where
        self._metrics = metrics
        self._tracing = tracing
        self.processes = 1 if where == "inline" else processes
        self._task: asyncio.Task[PublishResult] | None = None
        self._procs: list[tuple[Any, str]] = []

    async def start(self) -> None:
        if self.where == "inline":
            assert self._worker is not None, "publishing inline wakes the worker in this process"
            began = asyncio.Event()
            orders = OrderRepository(self._db, on_publish=self._worker.wake, metrics=self._metrics)
            self._task = asyncio.create_task(
                publish(self._db, orders, self._plan, began.set, self._tracing)
            )
            await began.wait()
            return
        context = multiprocessing.get_context("spawn")
        readies = []
        for _ in range(self.processes):
            ready = context.Event()
            handle, out = tempfile.mkstemp(prefix="rampwire_bench_", suffix=".json")
            os.close(handle)
            proc = context.Process(
                target=_publisher_process,
                args=(self._db.url, asdict(self._plan), out, ready),
                daemon=True,
            )
            proc.start()
            self._procs.append((proc, out))
            readies.append(ready)
        for ready in readies:
            if not await asyncio.to_thread(ready.wait, 30):
                self.stop()
                raise RuntimeError("a publisher process did not start")

    @property
    def pids(self) -> list[int]:
        """The publisher processes' (none inline)."""
        return [proc.pid for proc, _ in self._procs if proc.pid is not None]

    async def result(self) -> PublishResult:
        if self._task is not None:
            return await self._task
        deadline = time.monotonic() + self._plan.duration + STOP_DEADLINE_S
        results: list[PublishResult] = []
        try:
            for proc, out in self._procs:
                while proc.is_alive() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                text = Path(out).read_text()
                if not text:
                    raise RuntimeError(
                        "a publisher process ended without a result (see its traceback)"
                    )
                raw = json.loads(text)
                raw["stamps"] = [tuple(s) for s in raw["stamps"]]
                results.append(PublishResult(**raw))
        finally:
            self.stop()
        return merged(results)

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        stop_children(self._procs)
        self._procs = []


class Backlog:
    """The backlog (deliveries waiting or leased) sampled every ``every`` seconds while the
    context is open, to tell which side bounds a sustained window::

        async with Backlog(count) as backlog:
            await asyncio.sleep(window)
        backlog.bound(delivered, max_backlog)

    ``count``: a coroutine function giving the backlog now (rampwire's or a peer's)."""

    def __init__(self, count: Callable[[], Awaitable[int]], every: float = 0.5) -> None:
        self._count, self._every = count, every
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.samples.append(await self._count())
            await asyncio.sleep(self._every)

    async def __aenter__(self) -> Backlog:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.samples.append(await self._count())

    def note(self) -> str:
        s = self.samples
        return f"backlog {s[0]:,} -> {s[-1]:,}, mean {sum(s) / len(s):,.0f}, max {max(s):,}"

    def bound(self, delivered: int, max_backlog: int) -> str:
        """Which side bounds the window. The worker, when the backlog reached the publishers'
        pause or grew by more than 5 % of what was delivered; the publishers, when it stayed
        under half a second's deliveries throughout (the worker took each event as it came:
        add publishers to measure the worker); else neither alone (the backlog rose and fell,
        and the worker caught up)."""
        first, last, most = self.samples[0], self.samples[-1], max(self.samples)
        if most >= 0.9 * max_backlog:
            side = "bound by the worker (the backlog reached the publishers' pause)"
        elif last - first > max(50, 0.05 * delivered):
            side = "bound by the worker (the backlog grew)"
        elif most <= max(50, delivered / len(self.samples)):
            side = "bound by the publishers (the worker kept up)"
        else:
            side = "neither alone (the backlog rose and fell; the worker caught up)"
        return f"{side}; {self.note()}"
