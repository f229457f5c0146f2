"""The dashboard's overview figures, read from the existing tables without scanning them.

Every window is a range over a primary key: ids are ULIDs, so ``id >= <prefix>_<ULID of a
time>`` reads exactly the rows made since that time through the id index (attempts, inbound,
events have no index on their times, and a migration belongs to another issue). The backlog
reads the partial index of waiting deliveries; stuck orders read ``order_stuck``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..storage import Database
from ..storage.database import from_us, to_us

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LATENCY_SAMPLE = 5000  # attempts, at most, behind the p50/p99 (the newest of the window)
MINUTE_US = 60_000_000

# -- attempts_per_minute --
_PER_MINUTE = (
    "SELECT started_at / 60000000 AS minute,"
    " CASE WHEN response_status BETWEEN 200 AND 299 THEN 'succeeded' ELSE 'failed' END AS outcome,"
    " count(*) AS n FROM attempts WHERE id >= $1 GROUP BY 1, 2"
)
# -- attempt_latencies --
_LATENCIES = "SELECT duration_us FROM attempts WHERE id >= $1 ORDER BY id DESC LIMIT $2"
# -- backlog --
_BACKLOG = (
    "SELECT count(*) AS n, min(next_attempt_at) AS oldest FROM deliveries"
    " WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1"
)
# -- ingest_per_source --
_INGEST = (
    "SELECT source_id, inbound.received_at / 60000000 AS minute, count(*) AS n FROM inbound"
    " WHERE id >= $1 GROUP BY 1, 2"
)
# -- recent_anomalies --
_ANOMALIES = (
    "SELECT id, order_id, created_at FROM events WHERE id >= $1 AND type = 'order.anomaly'"
    " ORDER BY id DESC LIMIT $2"
)
_ANOMALY_COUNT = "SELECT count(*) FROM events WHERE id >= $1 AND type = 'order.anomaly'"
# -- stuck_now: flagged, and still in the status they were flagged in --
_STUCK = (
    "SELECT s.order_id, s.status, s.flagged_at FROM order_stuck s JOIN orders o"
    " ON o.id = s.order_id AND o.status = s.status AND o.status_at = s.status_at"
    " ORDER BY s.flagged_at DESC LIMIT $1"
)
_STUCK_COUNT = (
    "SELECT count(*) FROM order_stuck s JOIN orders o"
    " ON o.id = s.order_id AND o.status = s.status AND o.status_at = s.status_at"
)


def id_floor(prefix: str, at: datetime) -> str:
    """The smallest id with ``prefix`` that :func:`rampwire.ids.new_id` can make at ``at``."""
    value = (to_us(at) // 1000) << 80
    body = "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
    return f"{prefix}_{body}"


def _percentile(sorted_values: list[int], fraction: float) -> int | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


@dataclass(frozen=True, kw_only=True, slots=True)
class Overview:
    window_minutes: int
    minutes: list[int]  # the window's minutes (epoch minutes), oldest first
    succeeded: list[int]  # attempts per minute that got a 2xx
    failed: list[int]  # the others
    p50_us: int | None
    p99_us: int | None
    backlog: int  # deliveries due now
    oldest_due_at: datetime | None
    ingest: dict[str, list[int]] = field(default_factory=dict)  # source id -> per minute
    anomalies: int = 0  # in the anomaly window
    recent_anomalies: list[tuple[str, str | None, datetime]] = field(default_factory=list)
    stuck: int = 0
    stuck_orders: list[tuple[str, str, datetime]] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        total = sum(self.succeeded) + sum(self.failed)
        return None if total == 0 else sum(self.succeeded) / total


class OverviewRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(
        self,
        *,
        now: datetime,
        window: timedelta = timedelta(minutes=30),
        anomaly_window: timedelta = timedelta(hours=24),
        listed: int = 10,
    ) -> Overview:
        since = now - window
        first = to_us(since) // MINUTE_US + 1
        minutes = list(range(first, to_us(now) // MINUTE_US + 1))
        slot = {minute: i for i, minute in enumerate(minutes)}
        succeeded = [0] * len(minutes)
        failed = [0] * len(minutes)
        ingest: dict[str, list[int]] = {}
        floor_at = datetime.fromtimestamp(first * 60, tz=now.tzinfo)
        async with self._db.connection() as conn:
            for row in await conn.fetch(_PER_MINUTE, id_floor("att", floor_at)):
                if (i := slot.get(int(row["minute"]))) is not None:
                    target = succeeded if row["outcome"] == "succeeded" else failed
                    target[i] += int(row["n"])
            durations = sorted(
                int(row["duration_us"])
                for row in await conn.fetch(_LATENCIES, id_floor("att", since), LATENCY_SAMPLE)
            )
            backlog = await conn.fetchrow(_BACKLOG, to_us(now))
            for row in await conn.fetch(_INGEST, id_floor("inb", floor_at)):
                if (i := slot.get(int(row["minute"]))) is not None:
                    ingest.setdefault(row["source_id"], [0] * len(minutes))[i] += int(row["n"])
            anomaly_floor = id_floor("evt", now - anomaly_window)
            anomalies = await conn.fetchval(_ANOMALY_COUNT, anomaly_floor)
            recent = await conn.fetch(_ANOMALIES, anomaly_floor, listed)
            stuck = await conn.fetchval(_STUCK_COUNT)
            stuck_rows = await conn.fetch(_STUCK, listed)
        oldest = None if backlog is None else backlog["oldest"]
        return Overview(
            window_minutes=len(minutes),
            minutes=minutes,
            succeeded=succeeded,
            failed=failed,
            p50_us=_percentile(durations, 0.5),
            p99_us=_percentile(durations, 0.99),
            backlog=0 if backlog is None else int(backlog["n"]),
            oldest_due_at=None if oldest is None else _from_us_int(oldest),
            ingest=ingest,
            anomalies=int(anomalies or 0),
            recent_anomalies=[
                (r["id"], r["order_id"], _from_us_int(r["created_at"])) for r in recent
            ],
            stuck=int(stuck or 0),
            stuck_orders=[
                (r["order_id"], r["status"], _from_us_int(r["flagged_at"])) for r in stuck_rows
            ],
        )


def _from_us_int(value: int) -> datetime:
    return from_us(int(value))
