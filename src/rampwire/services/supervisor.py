"""The long-running tasks of a process (the delivery worker, the stuck-order sweeper, the
statistics keeper), run together so that none dies unnoticed.

Each task handles the failures it expects (a database outage: wait, try again) itself. Anything
else that escapes it is logged with its traceback, and the task is started again after a
backoff. A task that fails :data:`CRASH_LIMIT` times within :data:`CRASH_WINDOW_S` cannot
recover by itself: the supervisor marks it failed (readiness fails), sets ``failed`` and stops
the others, and the process exits non-zero so that its own supervisor (systemd, Kubernetes)
restarts it. A task that returns before ``stop`` counts as a failure too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger("rampwire.supervisor")

RESTART_MIN_S = 0.5  # first wait before a failed task starts again, doubled each time
RESTART_MAX_S = 30.0  # ... up to this
CRASH_LIMIT = 5  # failures within the window after which a task is given up
CRASH_WINDOW_S = 300.0

Run = Callable[[asyncio.Event], Awaitable[None]]


class TaskState(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"  # failed, waiting to start again
    FAILED = "failed"  # given up: the process must be restarted
    STOPPED = "stopped"


@dataclass(slots=True)
class TaskHealth:
    name: str
    state: TaskState = TaskState.RUNNING
    failures: int = 0
    last_error: str | None = None


class Supervisor:
    def __init__(
        self,
        stop: asyncio.Event,
        *,
        restart_min_s: float = RESTART_MIN_S,
        restart_max_s: float = RESTART_MAX_S,
        crash_limit: int = CRASH_LIMIT,
        crash_window_s: float = CRASH_WINDOW_S,
    ) -> None:
        self._stop = stop
        self._restart_min_s = restart_min_s
        self._restart_max_s = restart_max_s
        self._crash_limit = crash_limit
        self._crash_window_s = crash_window_s
        self._tasks: list[asyncio.Task[None]] = []
        self.health: dict[str, TaskHealth] = {}
        self.failed = asyncio.Event()  # a task was given up

    def start(self, name: str, run: Run) -> None:
        """Run ``run(stop)`` until ``stop`` is set, starting it again when it fails."""
        health = self.health[name] = TaskHealth(name)
        self._tasks.append(asyncio.create_task(self._supervise(run, health), name=name))

    async def wait(self) -> None:
        """Until every task has ended (after ``stop``, or after one was given up)."""
        await asyncio.gather(*self._tasks)

    def problems(self) -> dict[str, str]:
        """The tasks not running, with why: empty when all is well."""
        return {
            name: f"{health.state.value}: {health.last_error}"
            for name, health in self.health.items()
            if health.state in (TaskState.RESTARTING, TaskState.FAILED)
        }

    async def _supervise(self, run: Run, health: TaskHealth) -> None:
        loop = asyncio.get_running_loop()
        crashes: deque[float] = deque()
        delay = self._restart_min_s
        while not self._stop.is_set():
            health.state = TaskState.RUNNING
            started = loop.time()
            try:
                await run(self._stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.error("task %s failed: %s", health.name, error, exc_info=exc)
            else:
                if self._stop.is_set():
                    break
                error = "it returned before it was asked to stop"
                log.error("task %s ended: %s", health.name, error)
            if loop.time() - started > self._restart_max_s:
                delay = self._restart_min_s  # it ran well for a while: a fresh failure
            health.failures += 1
            health.last_error = error
            now = loop.time()
            crashes.append(now)
            while crashes and crashes[0] < now - self._crash_window_s:
                crashes.popleft()
            if len(crashes) >= self._crash_limit:
                health.state = TaskState.FAILED
                log.critical(
                    "task %s failed %d times in %g s: giving up, the process stops",
                    health.name,
                    len(crashes),
                    self._crash_window_s,
                )
                self.failed.set()
                self._stop.set()
                return
            health.state = TaskState.RESTARTING
            log.warning("task %s starts again in %.1f s", health.name, delay)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, self._restart_max_s)
        health.state = TaskState.STOPPED
