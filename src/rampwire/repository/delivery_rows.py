"""The deliveries' and attempts' columns, and their rows read into records and written from
them (:mod:`.deliveries` holds the statements)."""

from __future__ import annotations

from typing import Any

from ..domain import serde
from ..domain.deliveries import Attempt, Delivery, DeliveryStatus, ErrorClass
from ..storage import Row
from ..storage.database import from_us, to_us

DELIVERY = (
    "id, endpoint_id, event_id, event_type, order_id, status, attempts, next_attempt_at,"
    " last_status_code, last_error, created_at, updated_at"
)
# Read (get, find): the stored columns, and for a waiting per-order FIFO delivery the earliest
# delivery of its order to that endpoint that still waits, which holds it back (the claim's rule).
READ = (
    f"{DELIVERY}, superseded_by, (SELECT p.id FROM deliveries p"
    " WHERE deliveries.fifo_key IS NOT NULL AND deliveries.next_attempt_at IS NOT NULL"
    "  AND p.fifo_key = deliveries.fifo_key AND p.fifo_seq < deliveries.fifo_seq"
    "  AND p.next_attempt_at IS NOT NULL ORDER BY p.fifo_seq, p.id LIMIT 1) AS blocked_by"
)
ATTEMPT = (
    "id, delivery_id, attempt, started_at, duration_us, request_url, request_headers,"
    " request_body, response_status, response_headers, response_body, error_class, error"
)


def delivery_from_row(row: Row) -> Delivery:
    next_at = row["next_attempt_at"]
    return Delivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        order_id=row["order_id"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=None if next_at is None else from_us(next_at),
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
        superseded_by=row["superseded_by"],
        blocked_by=row["blocked_by"],
    )


def attempt_from_row(row: Row) -> Attempt:
    headers = row["response_headers"]
    return Attempt(
        id=row["id"],
        delivery_id=row["delivery_id"],
        attempt=row["attempt"],
        started_at=from_us(row["started_at"]),
        duration_us=row["duration_us"],
        request_url=row["request_url"],
        request_headers=serde.from_json(row["request_headers"]),
        request_body=row["request_body"],
        response_status=row["response_status"],
        response_headers=None if headers is None else serde.from_json(headers),
        response_body=row["response_body"],
        error_class=None if row["error_class"] is None else ErrorClass(row["error_class"]),
        error=row["error"],
    )


def attempt_row(a: Attempt) -> tuple[Any, ...]:
    return (
        a.id,
        a.delivery_id,
        a.attempt,
        to_us(a.started_at),
        a.duration_us,
        a.request_url,
        serde.to_json(a.request_headers).decode(),
        a.request_body,
        a.response_status,
        None if a.response_headers is None else serde.to_json(a.response_headers).decode(),
        a.response_body,
        None if a.error_class is None else a.error_class.value,
        a.error,
    )


__all__ = [
    "ATTEMPT",
    "DELIVERY",
    "READ",
    "attempt_from_row",
    "attempt_row",
    "delivery_from_row",
]
