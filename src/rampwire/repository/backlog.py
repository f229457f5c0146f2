"""The delivery backlog at a glance, for the metrics: how many deliveries are due, how long the
oldest has waited, and how many a per-order FIFO holds back. Read at scrape time, at most every
few seconds (:class:`~rampwire.metrics.exposition.Backlog`), over the partial indexes
``deliveries_due`` and ``deliveries_fifo``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..storage import Database
from ..storage.database import to_us

# -- backlog_due --
_DUE = "SELECT count(*), min(next_attempt_at) FROM deliveries WHERE next_attempt_at <= $1"
# -- backlog_blocked --: waiting FIFO deliveries behind an earlier one of their order that waits
_BLOCKED = (
    "SELECT count(*) FROM deliveries d WHERE d.fifo_key IS NOT NULL"
    " AND d.next_attempt_at IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries p"
    "  WHERE p.fifo_key = d.fifo_key AND p.fifo_seq < d.fifo_seq"
    "  AND p.next_attempt_at IS NOT NULL)"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class BacklogSnapshot:
    due: int  # deliveries whose next attempt is due now (claimed ones are not: leased ahead)
    oldest_due_s: float  # how long the oldest due delivery has been due; 0 when none is
    fifo_blocked: int  # waiting deliveries held back by an earlier one of their order


async def backlog(db: Database, *, now: datetime) -> BacklogSnapshot:
    now_us = to_us(now)
    async with db.connection() as conn:
        row = await conn.fetchrow(_DUE, now_us)
        blocked = await conn.fetchval(_BLOCKED)
    due, oldest = (int(row[0]), row[1]) if row is not None else (0, None)
    return BacklogSnapshot(
        due=due,
        oldest_due_s=max(0.0, (now_us - int(oldest)) / 1e6) if oldest is not None else 0.0,
        fifo_blocked=int(blocked or 0),
    )
