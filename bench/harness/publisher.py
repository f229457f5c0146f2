"""Publishing while a worker delivers: a flood of orders each changed twice (as fast as a
backlog bound allows), or ``order.created`` events at a paced rate with each one's publish time
recorded; in the worker's process (``rampwire serve``, the embedded mode) or in a separate one
(an API node beside ``rampwire worker``, woken through NOTIFY)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from rampwire import heap
from rampwire.domain.orders import OrderStatus
from rampwire.repository import OrderRepository
from rampwire.services.worker import Worker
from rampwire.storage import Database, open_database

from .spans import sink_tracing
from .workload import change_order, count_waiting, create_order

STOP_DEADLINE_S = 30.0  # a publisher process gets this long to stop


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
    db: Database, orders: OrderRepository, plan: PublishPlan, started: Callable[[], None]
) -> PublishResult:
    result = PublishResult()
    tracing = sink_tracing(plan.traced) if plan.traced else None

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
                await asyncio.sleep(0.1)

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
    if tracing is not None:
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


class Publisher:
    """Runs :func:`publish` inline (sharing the worker's loop and database) or in a process."""

    def __init__(self, db: Database, worker: Worker | None, plan: PublishPlan, where: str) -> None:
        """``worker``: the worker to wake when publishing inline (None: a process)."""
        self._db, self._worker, self._plan, self.where = db, worker, plan, where
        self._task: asyncio.Task[PublishResult] | None = None
        self._proc: Any = None
        self._out = ""

    async def start(self) -> None:
        if self.where == "inline":
            assert self._worker is not None, "publishing inline wakes the worker in this process"
            began = asyncio.Event()
            orders = OrderRepository(self._db, on_publish=self._worker.wake)
            self._task = asyncio.create_task(publish(self._db, orders, self._plan, began.set))
            await began.wait()
            return
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        handle, self._out = tempfile.mkstemp(prefix="rampwire_bench_", suffix=".json")
        os.close(handle)
        self._proc = context.Process(
            target=_publisher_process,
            args=(self._db.url, asdict(self._plan), self._out, ready),
            daemon=True,
        )
        self._proc.start()
        if not await asyncio.to_thread(ready.wait, 30):
            self.stop()
            raise RuntimeError("the publisher process did not start")

    async def result(self) -> PublishResult:
        if self._task is not None:
            return await self._task
        deadline = time.monotonic() + self._plan.duration + STOP_DEADLINE_S
        while self._proc.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            text = Path(self._out).read_text()
        finally:
            self.stop()
        if not text:
            raise RuntimeError("the publisher process ended without a result (see its traceback)")
        raw = json.loads(text)
        raw["stamps"] = [tuple(s) for s in raw["stamps"]]
        return PublishResult(**raw)

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._proc is not None:
            if self._proc.is_alive():
                os.kill(self._proc.pid, signal.SIGTERM)
                self._proc.join(5)
                if self._proc.is_alive():
                    os.kill(self._proc.pid, signal.SIGKILL)
                    self._proc.join(5)
            self._proc = None
        if self._out:
            with contextlib.suppress(OSError):
                os.unlink(self._out)
