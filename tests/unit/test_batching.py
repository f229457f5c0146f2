"""Group commit's batching: a job that arrives while no writer runs is written at once and
alone; while one runs, jobs queue, a writer that finishes takes them itself, and a further writer
starts only for a backlog. The writes here are a fake transaction that waits for the test to let
it finish."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rampwire.repository.batching import GroupCommit

log = logging.getLogger("tests.batching")


class Writes:
    """Records each batch; a batch finishes when the test sets its gate (or at once)."""

    def __init__(self, *, hold: bool) -> None:
        self.batches: list[list[int]] = []
        self.hold = hold
        self.gates: list[asyncio.Event] = []
        self.started = asyncio.Event()

    async def __call__(self, jobs: list[int]) -> list[int | Exception]:
        self.batches.append(list(jobs))
        gate = asyncio.Event()
        self.gates.append(gate)
        self.started.set()
        if self.hold:
            await gate.wait()
        return [ValueError(f"job {job}") if job < 0 else job * 10 for job in jobs]

    async def wait_for_batches(self, count: int) -> None:
        while len(self.batches) < count:
            self.started.clear()
            await self.started.wait()


def commits(
    writes: Writes, *, writers: int, max_batch: int = 64, backlog: int | None = None
) -> GroupCommit[int, int]:
    return GroupCommit(writes, max_batch=max_batch, writers=writers, log=log, backlog=backlog)


async def test_a_lone_job_is_written_at_once_in_a_batch_of_its_own() -> None:
    writes = Writes(hold=False)
    group = commits(writes, writers=2)
    assert await group.submit(1) == 10
    assert await group.submit(2) == 20
    assert writes.batches == [[1], [2]]
    assert group.transactions == 2


async def test_a_further_writer_starts_only_for_a_backlog() -> None:
    writes = Writes(hold=True)
    group = commits(writes, writers=2, backlog=2)
    first = asyncio.create_task(group.submit(1))
    await writes.wait_for_batches(1)
    second = asyncio.create_task(group.submit(2))  # one waits: for the running writer
    await asyncio.sleep(0)
    assert writes.batches == [[1]]
    third = asyncio.create_task(group.submit(3))  # two wait, the backlog: a second writer
    await writes.wait_for_batches(2)
    assert writes.batches == [[1], [2, 3]]
    queued = [asyncio.create_task(group.submit(n)) for n in (4, 5, 6)]
    await asyncio.sleep(0)
    assert writes.batches == [[1], [2, 3]]  # both writers busy: 4, 5, 6 wait
    writes.gates[1].set()  # the second writer finishes and takes the queue itself
    await writes.wait_for_batches(3)
    assert writes.batches[2] == [4, 5, 6]
    assert await asyncio.gather(second, third) == [20, 30]
    assert not first.done()
    writes.gates[0].set()
    writes.gates[2].set()
    assert await asyncio.gather(first, *queued) == [10, 40, 50, 60]
    assert writes.batches == [[1], [2, 3], [4, 5, 6]]


async def test_below_the_backlog_jobs_wait_for_the_one_writer_and_share_its_next_batch() -> None:
    """The default backlog is an eighth of ``max_batch``: with 64, seven jobs that arrive
    during a transaction are the next one, not seven more transactions."""
    writes = Writes(hold=True)
    group = commits(writes, writers=2)
    first = asyncio.create_task(group.submit(1))
    await writes.wait_for_batches(1)
    waiting = [asyncio.create_task(group.submit(n)) for n in range(2, 9)]
    await asyncio.sleep(0)
    assert writes.batches == [[1]]
    writes.gates[0].set()
    await writes.wait_for_batches(2)
    assert writes.batches[1] == list(range(2, 9))
    writes.gates[1].set()
    assert await asyncio.gather(first, *waiting) == [n * 10 for n in range(1, 9)]


async def test_a_writer_takes_at_most_max_batch_jobs_at_a_time() -> None:
    writes = Writes(hold=False)
    group = commits(writes, writers=1, max_batch=2)
    results = await asyncio.gather(*(group.submit(n) for n in range(1, 6)))
    assert results == [10, 20, 30, 40, 50]
    assert writes.batches == [[1, 2], [3, 4], [5]]


async def test_a_job_fails_alone_and_a_caller_that_left_does_not_stop_its_batch() -> None:
    writes = Writes(hold=True)
    group = commits(writes, writers=1)
    holding = asyncio.create_task(group.submit(1))
    await writes.wait_for_batches(1)
    bad = asyncio.create_task(group.submit(-1))
    gone = asyncio.create_task(group.submit(2))
    good = asyncio.create_task(group.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    writes.gates[0].set()
    await writes.wait_for_batches(2)
    writes.gates[1].set()
    assert await holding == 10
    with pytest.raises(ValueError, match="job -1"):
        await bad
    assert await good == 30
    assert gone.cancelled()
    assert writes.batches == [[1], [-1, 2, 3]]  # the job of the caller that left: written


async def test_after_the_queue_is_drained_a_new_job_starts_a_writer_again() -> None:
    writes = Writes(hold=False)
    group = commits(writes, writers=1)
    await asyncio.gather(*(group.submit(n) for n in (1, 2)))
    await asyncio.sleep(0)  # the writer has stopped
    assert await group.submit(3) == 30
    assert writes.batches == [[1, 2], [3]]


async def test_a_finished_writer_takes_the_queue_without_waiting_for_wake_ups() -> None:
    """Counted in turns of the event loop, not in time: the next batch starts within a few
    turns of the last one's commit, however many callers that batch held (before, the writers'
    semaphore woke each of them in turn before a queued job could start a batch)."""
    writes = Writes(hold=True)
    group = commits(writes, writers=1)
    held = [asyncio.create_task(group.submit(1))]
    await writes.wait_for_batches(1)
    held += [asyncio.create_task(group.submit(n)) for n in range(2, 12)]
    await asyncio.sleep(0)
    writes.gates[0].set()
    await writes.wait_for_batches(2)
    assert writes.batches[1] == list(range(2, 12))
    late = asyncio.create_task(group.submit(12))
    await asyncio.sleep(0)
    writes.gates[1].set()
    turns = 0
    while len(writes.batches) < 3 and turns < 50:
        await asyncio.sleep(0)
        turns += 1
    assert writes.batches[2:] == [[12]]
    assert turns <= 3
    writes.gates[2].set()
    assert await asyncio.gather(*held, late) == [n * 10 for n in range(1, 13)]
