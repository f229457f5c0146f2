"""Group commit: writes that arrive while a writer is busy are written together, in one
transaction, and each caller still gets its own result or its own error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from ..metrics import Metrics

J = TypeVar("J")
R = TypeVar("R")

WriteBatch = Callable[[list[J]], Awaitable[Sequence[R | Exception]]]
"""Writes jobs in one transaction: per job, in order, its result or the error that is its own
(nothing of that job written). Raising fails the whole batch."""


# A job queued, and the future its caller waits on: a pair, made in C (no record's
# ``__init__`` and factory calls for each request).
_Entry = tuple[J, "asyncio.Future[R]"]


class GroupCommit(Generic[J, R]):
    """Up to ``writers`` transactions at once; each takes up to ``max_batch`` queued jobs, so its
    fixed costs (begin, commit, the statements it runs once per batch) are shared. A job that
    arrives while no writer runs is written at once, alone. While one runs, jobs queue, and a
    writer that finishes takes the next batch from the queue itself; a further writer starts
    only once ``backlog`` jobs wait (by default an eighth of ``max_batch``), as PostgreSQL's
    ``commit_siblings`` delays a commit only when others are in flight. Under moderate load the
    jobs that arrive during one transaction then share the next one, instead of each starting a
    transaction of its own on a second connection: the CPU a job costs stays near what it costs
    at full load, which keeps the process clear of saturation, and so its latency low
    (docs/benchmarks.md). A batch that raises is written again one job at a time, so a job only
    ever fails for its own reasons."""

    def __init__(
        self,
        write: WriteBatch[J, R],
        *,
        max_batch: int,
        writers: int,
        log: logging.Logger,
        metrics: Metrics | None = None,
        name: str = "",
        backlog: int | None = None,
    ) -> None:
        """``metrics``: each transaction's size and time are observed under ``name``."""
        self._write_batch = write
        self._metrics = metrics
        self._name = name
        self._log = log
        self._max_batch = max_batch
        self._max_writers = writers
        self._backlog = max(max_batch // 8, 1) if backlog is None else backlog
        self._active = 0  # writers running: counted here, not by their tasks' done callbacks
        self._queue: deque[_Entry[J, R]] = deque()
        self._writing: set[asyncio.Task[None]] = set()
        self.transactions = 0  # batches written, counting each retry of a failed batch's jobs

    async def submit(self, job: J) -> R:
        """Queue ``job`` and wait for its batch's commit: its result, or its error. The job is
        written even if this caller goes away meanwhile (its batch holds other callers' jobs)."""
        result: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((job, result))
        active = self._active
        if not active or (active < self._max_writers and len(self._queue) >= self._backlog):
            self._active = active + 1
            writing = asyncio.create_task(self._drain())
            self._writing.add(writing)
            writing.add_done_callback(self._writing.discard)
        return await result

    async def _drain(self) -> None:
        """One writer: batches from the queue, one after the other, until it is empty (so what
        queued during a batch is taken without waiting for a wake-up). It stops in the same
        step as it finds the queue empty, so a job queued later starts a writer of its own."""
        try:
            while self._queue:
                batch = self._take()
                try:
                    await self._write(batch)
                except BaseException:  # cancelled (shutdown): no caller may wait forever
                    for _, result in batch:
                        result.cancel()
                    raise
        finally:
            self._active -= 1

    def _take(self) -> list[_Entry[J, R]]:
        batch: list[_Entry[J, R]] = []
        while self._queue and len(batch) < self._max_batch:
            batch.append(self._queue.popleft())
        return batch

    async def _write(self, batch: list[_Entry[J, R]]) -> None:
        """Settle every job of the batch: its result, or its own exception."""
        self.transactions += 1
        started = time.perf_counter()
        try:
            outcomes = await self._write_batch([job for job, _ in batch])
            if self._metrics is not None:
                elapsed = time.perf_counter() - started
                self._metrics.committed(writer=self._name, size=len(batch), seconds=elapsed)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            self._log.warning(
                "a batch of %d writes failed (%s); writing each alone", len(batch), exc
            )
            for entry in batch:
                await self._write([entry])
            return
        for (_, result), outcome in zip(batch, outcomes, strict=True):
            _settle(result, outcome)


def _settle(result: asyncio.Future[R], outcome: R | Exception) -> None:
    """A job's result or error, unless its caller went away (its wait cancelled the future:
    the job was written all the same)."""
    if result.done():
        return
    if isinstance(outcome, Exception):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)
