"""Deliveries and attempts: what the engine stores about each send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DELIVERY_ID_PREFIX = "dlv"
ATTEMPT_ID_PREFIX = "att"
BODY_CAP_BYTES = 16 * 1024  # request and response bodies kept per attempt


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not yet attempted
    RETRYING = "retrying"  # failed, another attempt is scheduled
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # the last attempt failed; replayable
    CANCELLED = "cancelled"  # the endpoint was disabled or deleted first (replayable), or the
    # event's row is gone (not replayable: nothing to send)
    SUPERSEDED = "superseded"  # replayed while it waited: the replay sends it instead

    @property
    def waiting(self) -> bool:
        return self in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class ErrorClass(StrEnum):
    """Why an attempt failed."""

    HTTP_STATUS = "http_status"  # a non-2xx answer
    REDIRECT = "redirect"  # a 3xx: not followed
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, reset, DNS failure, TLS
    FORBIDDEN_TARGET = "forbidden_target"  # the SSRF guard refused the resolved address
    BAD_CONFIGURATION = "bad_configuration"  # e.g. the dialect lacks credentials
    UNENCODABLE = "unencodable"  # the endpoint's dialect cannot express this event: not sent


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    order_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    superseded_by: str | None = None  # the replay that took over, when SUPERSEDED
    # Derived when read, never stored: the earlier delivery of the same order (per-order FIFO)
    # that still waits, and holds this one back whatever its next_attempt_at says.
    blocked_by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Claimed:
    """A delivery a worker holds under a lease, with what it needs to send it."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempts: int  # made so far
    lease_token: str
    payload: bytes
    trace_context: str | None = None  # the event's producing span (tracing), else None
    order_id: str | None = None  # for the send's log lines and metrics
    partner_id: str | None = None  # the order's partner; None: the operator's
    # the endpoint's ``updated_at`` (microseconds) as the claim read it, which every change of
    # its settings, secrets or state moves; None: the endpoint is deleted
    endpoint_version: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    id: str
    delivery_id: str
    attempt: int
    started_at: datetime
    duration_us: int
    request_url: str
    request_headers: dict[str, str]
    request_body: str | None  # the first BODY_CAP_BYTES sent; None: the event's payload, or
    # nothing when the attempt sent nothing (error_class unencodable)
    response_status: int | None
    response_headers: dict[str, str] | None
    response_body: str | None
    error_class: ErrorClass | None
    error: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Result:
    """The outcome of one attempt, and what happens to the delivery next."""

    claimed: Claimed
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None
    succeeded: bool
    disable_endpoint: str | None = None  # a reason, when the answer was 410 Gone

    @property
    def contacted(self) -> bool:
        """Whether a request was attempted: an unencodable event says nothing of the receiver."""
        return self.attempt.error_class is not ErrorClass.UNENCODABLE
