"""The one place a process's background work is put together: the delivery worker, the
stuck-order sweeper, the statistics keeper and the heap trimmer, each supervised. ``rampwire
serve`` (the API's lifespan) and ``rampwire worker`` both start it, so the two cannot drift."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import timedelta

from .. import heap, metrics
from ..crypto import SecretBox
from ..repository.listen_sessions import ListenSessionRepository
from ..repository.stuck_orders import StuckOrderRepository
from ..settings import Settings
from ..storage import Database, statistics
from .supervisor import Supervisor
from .sweeper import ListenSessionSweeper, Sweeper
from .telemetry import Telemetry
from .worker import Worker, WorkerOptions


@dataclass(frozen=True, slots=True)
class Background:
    worker: Worker | None  # None: this process delivers nothing (another process does)
    supervisor: Supervisor
    stop: asyncio.Event


def start(
    db: Database,
    box: SecretBox,
    settings: Settings,
    *,
    deliver: bool,
    worker_options: WorkerOptions | None = None,
    trim: bool = False,
    telemetry: Telemetry | None = None,
) -> Background:
    """Start the background tasks on the running loop; set ``stop`` and await
    ``supervisor.wait()`` to end them. ``deliver``: run a worker, the sweeper and the
    statistics keeper; ``trim``: give freed heap pages back every 30 s (serve); ``telemetry``:
    what the worker counts, served on ``RAMPWIRE_METRICS_ADDR`` when that is set."""
    stop = asyncio.Event()
    supervisor = Supervisor(stop)
    if telemetry is not None and settings.metrics_addr is not None and settings.metrics:
        host, port = settings.metrics_addr
        serve = functools.partial(metrics.serve, telemetry.metrics, telemetry.sampled, host, port)
        supervisor.start("metrics", serve)
    if trim:
        supervisor.start("trim", heap.keep_trimmed)
    idle = timedelta(seconds=settings.listen_idle_s)
    supervisor.start(
        "listen-sessions", ListenSessionSweeper(ListenSessionRepository(db, box), idle).run
    )
    worker = None
    if deliver:
        worker = Worker(
            db,
            box,
            policy=settings.target_policy,
            options=worker_options,
            metrics=telemetry.metrics if telemetry is not None else None,
            tracing=telemetry.tracing if telemetry is not None else None,
        )
        sweeper = Sweeper(
            StuckOrderRepository(db, on_publish=worker.wake),
            settings.stuck_slas,
            interval_s=settings.sweep_interval_s,
            tracing=telemetry.tracing if telemetry is not None else None,
        )
        supervisor.start("worker", worker.run)
        supervisor.start("sweeper", sweeper.run)
        supervisor.start("statistics", functools.partial(statistics.keep, db))
    return Background(worker=worker, supervisor=supervisor, stop=stop)
