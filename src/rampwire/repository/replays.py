"""Replays: sending a delivery's event to its endpoint again, and hurrying one that waits.

A replay is a new delivery of the same event to the same endpoint. It supersedes every delivery
of that event to that endpoint that still waits, in the same transaction: their retries stop
(``next_attempt_at`` NULL) and their lease token is cleared, so the result of a send still in
flight, written fenced on that token, cannot overwrite ``superseded``. The replay takes the
original's FIFO key and place (``fifo_seq``): per-order FIFO holds, and the order's later
deliveries wait for the replay alone, and go as soon as it concludes.

Replaying an endpoint since a time is idempotent: it sends again only the events whose newest
delivery to the endpoint is dead or cancelled, so a second identical call creates nothing.

Every function runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..domain.deliveries import DELIVERY_ID_PREFIX, DeliveryStatus
from ..errors import Conflict, NotFound
from ..ids import new_id
from ..storage import Connection, Row
from ..storage.database import to_us

# The original's FIFO key and place go to the replay, so it keeps the order's turn.
_INSERT_REPLAY = (
    "INSERT INTO deliveries (id, endpoint_id, event_id, event_type, order_id, fifo_key,"
    " fifo_seq, status, attempts, next_attempt_at, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8)"
)
_ORIGINAL = "id, endpoint_id, event_id, event_type, order_id, fifo_key, fifo_seq"

# -- supersede -- what still waits of this event to this endpoint, in flight included.
_SUPERSEDE = (
    "UPDATE deliveries SET status = 'superseded', next_attempt_at = NULL, lease_token = NULL,"
    " superseded_by = $3, last_error = $4, updated_at = $5"
    " WHERE endpoint_id = $1 AND event_id = $2 AND next_attempt_at IS NOT NULL"
)

# -- replay_since -- the events whose newest delivery to the endpoint is dead or cancelled, and
# whose row is still there (deliveries.event_id has no foreign key: a replay of an event deleted
# by hand would be cancelled at its claim, and made again by every later call).
_SEND_AGAIN = (
    f"SELECT {_ORIGINAL} FROM deliveries d WHERE endpoint_id = $1 AND created_at >= $2"
    " AND status IN ('dead', 'cancelled')"
    " AND NOT EXISTS (SELECT 1 FROM deliveries n WHERE n.endpoint_id = d.endpoint_id"
    "  AND n.event_id = d.event_id AND n.id > d.id)"
    " AND EXISTS (SELECT 1 FROM events v WHERE v.id = d.event_id)"
    " ORDER BY id"
)

# -- hurry -- retrying deliveries not in flight: due now, their attempts kept.
_HURRY = (
    "UPDATE deliveries SET next_attempt_at = $3, updated_at = $3"
    " WHERE endpoint_id = $1 AND created_at >= $2 AND status = 'retrying'"
    " AND lease_token IS NULL"
)

# -- retry_now -- one waiting delivery, not in flight: due now.
_RETRY_NOW = (
    "UPDATE deliveries SET next_attempt_at = $2, updated_at = $2"
    " WHERE id = $1 AND status IN ('pending', 'retrying') AND next_attempt_at IS NOT NULL"
    " AND lease_token IS NULL"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Replayed:
    """What replaying an endpoint since a time did."""

    sent_again: int  # new deliveries of events whose newest delivery was dead or cancelled
    retried_now: int  # retrying deliveries made due now


async def replay(conn: Connection, delivery_id: str, *, now: datetime) -> str:
    """Send a delivery's event again: the new delivery's id. What still waits of that event to
    that endpoint is superseded by it. Raises NotFound for an unknown delivery or one whose
    endpoint was deleted, Conflict for one whose event's row is gone (it exists, but there is
    nothing to send)."""
    original = await conn.fetchrow(
        f"SELECT {', '.join(f'd.{c.strip()}' for c in _ORIGINAL.split(','))}, e.deleted_at,"
        " EXISTS (SELECT 1 FROM events v WHERE v.id = d.event_id) AS has_event"
        " FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE d.id = $1",
        delivery_id,
    )
    if original is None or original["deleted_at"] is not None:
        raise NotFound(f"no delivery {delivery_id!r}")
    if not original["has_event"]:
        raise Conflict(f"delivery {delivery_id!r}: its event is gone, nothing to send again")
    replay_id = new_id(DELIVERY_ID_PREFIX)
    await conn.execute(
        _SUPERSEDE,
        original["endpoint_id"],
        original["event_id"],
        replay_id,
        f"superseded by the replay {replay_id}",
        to_us(now),
    )
    await conn.executemany(_INSERT_REPLAY, [_replay_row(replay_id, original, now)])
    return replay_id


async def replay_since(
    conn: Connection, endpoint_id: str, *, since: datetime, now: datetime
) -> Replayed:
    """Retry now what is retrying, and send again what is dead or cancelled and was not sent
    again already, of the deliveries made since ``since``."""
    since_us = to_us(since)
    hurried = await conn.execute(_HURRY, endpoint_id, since_us, to_us(now))
    originals = await conn.fetch(_SEND_AGAIN, endpoint_id, since_us)
    rows = [_replay_row(new_id(DELIVERY_ID_PREFIX), o, now) for o in originals]
    if rows:
        await conn.executemany(_INSERT_REPLAY, rows)
    return Replayed(sent_again=len(rows), retried_now=hurried)


async def retry_now(conn: Connection, delivery_id: str, *, now: datetime) -> None:
    """Move a waiting delivery's next attempt to ``now``. Raises NotFound for an unknown
    delivery, Conflict for one that does not wait (concluded, superseded) or is being sent."""
    if await conn.execute(_RETRY_NOW, delivery_id, to_us(now)):
        return
    row = await conn.fetchrow(
        "SELECT status, lease_token FROM deliveries WHERE id = $1", delivery_id
    )
    if row is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    status = DeliveryStatus(row["status"])
    if status.waiting:
        raise Conflict(f"delivery {delivery_id} is being sent now; its result decides what next")
    raise Conflict(
        f"delivery {delivery_id} is {status.value}, not waiting: only a pending or retrying"
        " delivery can be retried now; replay it to send its event again"
    )


def _replay_row(replay_id: str, original: Row, now: datetime) -> Sequence[object]:
    """The columns of :data:`_INSERT_REPLAY` for a replay of ``original``."""
    return (
        replay_id,
        original["endpoint_id"],
        original["event_id"],
        original["event_type"],
        original["order_id"],
        original["fifo_key"],
        original["fifo_seq"],
        to_us(now),
    )
