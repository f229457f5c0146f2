"""Background tasks restart after a failure and are given up, loudly, when they cannot recover."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rampwire.services.supervisor import Supervisor, TaskState


async def test_a_failing_task_is_logged_and_started_again(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs = 0

    async def flaky(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise ConnectionRefusedError("the database went away")
        await stop.wait()

    supervisor = Supervisor(stop, restart_min_s=0.01, restart_max_s=0.02)
    with caplog.at_level(logging.ERROR, logger="rampwire.services.supervisor"):
        supervisor.start("flaky", flaky)
        while runs < 3:
            await asyncio.sleep(0.01)
    assert supervisor.health["flaky"].state is TaskState.RUNNING
    assert supervisor.health["flaky"].failures == 2
    assert supervisor.problems() == {}
    assert any(r.exc_info and "went away" in r.getMessage() for r in caplog.records)
    stop.set()
    await supervisor.wait()
    assert supervisor.health["flaky"].state is TaskState.STOPPED
    assert not supervisor.failed.is_set()


async def test_a_task_that_cannot_recover_stops_everything() -> None:
    stop = asyncio.Event()
    other_stopped = asyncio.Event()

    async def broken(stop: asyncio.Event) -> None:
        raise RuntimeError("a bug")

    async def healthy(stop: asyncio.Event) -> None:
        await stop.wait()
        other_stopped.set()

    supervisor = Supervisor(stop, restart_min_s=0.001, restart_max_s=0.001, crash_limit=3)
    supervisor.start("broken", broken)
    supervisor.start("healthy", healthy)
    await asyncio.wait_for(supervisor.wait(), timeout=5)
    assert supervisor.failed.is_set()
    assert other_stopped.is_set()
    assert supervisor.health["broken"].state is TaskState.FAILED
    assert supervisor.problems() == {"broken": "failed: RuntimeError: a bug"}


async def test_a_task_that_returns_early_counts_as_a_failure() -> None:
    stop = asyncio.Event()
    runs = 0

    async def quits(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1

    supervisor = Supervisor(stop, restart_min_s=0.001, restart_max_s=0.001, crash_limit=2)
    supervisor.start("quits", quits)
    await asyncio.wait_for(supervisor.wait(), timeout=5)
    assert runs == 2
    assert supervisor.health["quits"].last_error == "it returned before it was asked to stop"
