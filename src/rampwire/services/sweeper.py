"""The stuck-order sweeper: a periodic task beside the delivery worker; and the listen
sessions' (:class:`ListenSessionSweeper`), beside the API as well.

Every :data:`SWEEP_INTERVAL_S` it asks, status by status, for the orders past their SLA
(:mod:`rampwire.stuck`) and emits ``order.stuck`` for each, in batches. Several processes may
sweep one PostgreSQL database: rows are claimed with ``SKIP LOCKED`` and each stay is flagged
once (a primary key on order, status and the time the status was entered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta

from ..domain.orders import OrderStatus
from ..errors import DatabaseUnavailable, StorageError
from ..repository.listen_sessions import ListenSessionRepository
from ..repository.stuck_orders import StuckOrderRepository
from ..tracing import Tracing
from ..types import utcnow

log = logging.getLogger("rampwire.sweeper")

SWEEP_INTERVAL_S = 60.0
BATCH = 200


class Sweeper:
    def __init__(
        self,
        orders: StuckOrderRepository,
        slas: Mapping[OrderStatus, timedelta],
        *,
        interval_s: float = SWEEP_INTERVAL_S,
        tracing: Tracing | None = None,
    ) -> None:
        """``tracing``: a span per pass, which the ``order.stuck`` events' attempts join."""
        self._tracing = tracing or Tracing()
        self._orders = orders
        self._slas = dict(slas)
        self._interval_s = interval_s
        self.flagged = 0  # order.stuck events emitted by this sweeper
        self.sweeps = 0  # passes made

    async def sweep(self) -> int:
        """One pass over every watched status; returns how many orders it flagged."""
        flagged = 0
        with self._tracing.task("sweep stuck orders"):
            for status, sla in self._slas.items():
                batch = await self._orders.flag(status, sla, now=utcnow(), limit=BATCH)
                flagged += len(batch.events)
                while batch.resume is not None:  # a full batch: there may be more after it
                    batch = await self._orders.flag(
                        status, sla, now=utcnow(), limit=BATCH, after=batch.resume
                    )
                    flagged += len(batch.events)
            self._tracing.note(flagged=flagged)
        self.flagged += flagged
        self.sweeps += 1
        return flagged

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every interval, the first time one interval after start, until ``stop``."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            if stop.is_set():
                return
            try:
                found = await self.sweep()
            except DatabaseUnavailable as exc:
                log.warning("the stuck-order sweep could not run: %s; trying again next time", exc)
            except StorageError:
                log.exception("the stuck-order sweep failed; trying again next time")
            else:
                if found:
                    log.info("flagged %d stuck orders", found)


class ListenSessionSweeper:
    """Deletes the listen sessions no stream has read for their idle timeout, every half of it
    (at most every minute): a ``rampwire listen`` killed without a goodbye leaves nothing."""

    def __init__(self, sessions: ListenSessionRepository, idle: timedelta) -> None:
        self._sessions = sessions
        self._idle = idle
        self._interval_s = min(max(idle.total_seconds() / 2, 0.5), SWEEP_INTERVAL_S)
        self.expired = 0  # sessions deleted by this sweeper

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            if stop.is_set():
                return
            try:
                found = await self._sessions.expire(utcnow() - self._idle)
            except StorageError as exc:
                log.warning("expiring listen sessions failed: %s; trying again next time", exc)
            else:
                self.expired += found
                if found:
                    log.info("%d unread listen sessions expired", found)
