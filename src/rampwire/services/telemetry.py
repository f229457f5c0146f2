"""A process's metrics put together: the :class:`~rampwire.metrics.Metrics` its parts count
with, and the gauges read at scrape time from the database (the delivery backlog) and from the
connection pool. Built once per process by the composition roots (the API's lifespan and
``rampwire worker``), passed down to the worker, the ingestor and the repositories."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from ..domain.deliveries import DeliveryStatus, Result
from ..domain.events import Event
from ..metrics import Metrics, Sampled, render
from ..repository.backlog import backlog
from ..repository.partners import PartnerRepository
from ..settings import Settings
from ..storage import Database
from ..tracing import Tracing
from ..types import utcnow

log = logging.getLogger("rampwire.worker")

BACKLOG = {
    "rampwire_deliveries_due": "Deliveries whose next attempt is due now and not yet claimed.",
    "rampwire_oldest_due_delivery_age_seconds": "How long the oldest due delivery has waited.",
    "rampwire_deliveries_fifo_blocked": "Waiting deliveries held back by an earlier delivery"
    " of their order (per-order FIFO endpoints).",
}
POOL = {
    "rampwire_db_pool_in_use": "Database pool connections in use (PostgreSQL).",
    "rampwire_db_pool_idle": "Database pool connections open and idle (PostgreSQL).",
    "rampwire_db_pool_waiting": "Callers waiting for a database pool connection (PostgreSQL).",
}


@dataclass(frozen=True, slots=True)
class Telemetry:
    metrics: Metrics
    sampled: list[Sampled] = field(default_factory=list)
    tracing: Tracing = field(default_factory=Tracing)

    async def render(self) -> bytes:
        return await render(self.metrics, self.sampled)


def build(db: Database, settings: Settings, *, tracing: Tracing | None = None) -> Telemetry:
    """The process's metrics; with ``RAMPWIRE_METRICS=0`` nothing is counted or sampled.
    ``tracing``: its spans (default: none)."""
    metrics = Metrics(enabled=settings.metrics, partners=settings.metrics_partner_labels)
    tracing = tracing or Tracing()
    if not settings.metrics:
        return Telemetry(metrics, tracing=tracing)

    async def read_backlog() -> Mapping[str, float]:
        found = await backlog(db, now=utcnow())
        names = list(BACKLOG)
        return {names[0]: found.due, names[1]: found.oldest_due_s, names[2]: found.fifo_blocked}

    sampled = [Sampled(BACKLOG, read_backlog)]
    usage = getattr(db, "pool_usage", None)  # PostgreSQL's pool; SQLite has one connection
    if usage is not None:

        async def read_pool() -> Mapping[str, float]:
            return {f"rampwire_db_pool_{name}": value for name, value in usage().items()}

        sampled.append(Sampled(POOL, read_pool, every_s=0.0))
    for collector in sampled:
        metrics.register(collector)
    return Telemetry(metrics, sampled, tracing)


async def rank_partners(db: Database, metrics: Metrics) -> None:
    """``RAMPWIRE_METRICS_PARTNER_LABELS=top:N``: name the N partners with the most orders,
    once, as the process starts (a series never changes hands while it runs)."""
    labels = metrics.partners
    if labels is not None and labels.top:
        metrics.partners = labels.ranked(await PartnerRepository(db).busiest(labels.top))


def attempted(metrics: Metrics, result: Result, *, dialect: str) -> None:
    """An attempt ended: count it, and log a retry or a dead delivery at WARNING with its ids
    and the reason (a success is counted only: one line per delivery would drown the rest)."""
    attempt = result.attempt
    if metrics.enabled:  # off: not even the arguments are worked out
        metrics.attempted(
            status=result.status.value,
            dialect=dialect,
            error_class=attempt.error_class.value if attempt.error_class else None,
            seconds=attempt.duration_us / 1e6,
            partner=result.claimed.partner_id,
        )
    if result.status not in (DeliveryStatus.RETRYING, DeliveryStatus.DEAD):
        return
    claimed = result.claimed
    reason = attempt.error or (
        f"HTTP {attempt.response_status}" if attempt.response_status else "failed"
    )
    ids = {
        "delivery_id": claimed.id,
        "endpoint_id": claimed.endpoint_id,
        "event_id": claimed.event_id,
        "attempt": attempt.attempt,
        "error_class": attempt.error_class.value if attempt.error_class else None,
        "reason": reason,
    }
    if result.status is DeliveryStatus.RETRYING:
        retry_at = result.next_attempt_at.isoformat() if result.next_attempt_at else "?"
        log.warning(
            "delivery %s to %s: attempt %d failed (%s); next attempt at %s",
            claimed.id,
            claimed.endpoint_id,
            attempt.attempt,
            reason,
            retry_at,
            extra={**ids, "next_attempt_at": retry_at},
        )
    else:
        log.warning(
            "delivery %s to %s is dead after attempt %d: %s",
            claimed.id,
            claimed.endpoint_id,
            attempt.attempt,
            reason,
            extra=ids,
        )


def recorded(
    metrics: Metrics, batch: Sequence[Result], events: Sequence[Event], *, seconds: float
) -> None:
    """A batch of results was written; ``events`` are the endpoints it disabled."""
    metrics.committed(writer="delivery_results", size=len(batch), seconds=seconds)
    gone = {result.claimed.endpoint_id for result in batch if result.disable_endpoint}
    for event in events:
        endpoint_id = orjson.loads(event.payload)["data"]["endpoint_id"]
        log.warning(
            "endpoint disabled: %s",
            event.payload.decode(),
            extra={"endpoint_id": endpoint_id, "event_id": event.id},
        )
        metrics.endpoints_disabled(["gone" if endpoint_id in gone else "failing"])
