"""The outcome of one authorization check, ready for an order's timeline or an audit log.

``serde.dump(decision)`` gives its JSON-ready form; :meth:`Decision.raise_if_refused` turns a
refusal into :class:`~.errors.UserNotAllowed` (403, problem type ``user_not_allowed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..types import Timestamp
from .config import Operation
from .errors import UserNotAllowed
from .request import Subject


class Outcome(StrEnum):
    ALLOWED = "allowed"  # the partner said yes
    REFUSED = "refused"  # the partner said no, answered 3xx/4xx, or answered something unclear
    ERROR_FAIL_CLOSED = "error_fail_closed"  # no usable answer; refused by the failure mode
    ERROR_FAIL_OPEN = "error_fail_open"  # no usable answer; allowed by the failure mode
    DISABLED = "disabled"  # the check is off for this operation; allowed without a call


class FailureKind(StrEnum):
    """Why there was no usable answer."""

    TIMEOUT = "timeout"  # no complete answer within the timeout
    CONNECTION = "connection_error"  # DNS, refused, reset, TLS or a malformed HTTP response
    SERVER_ERROR = "server_error"  # the partner answered 5xx


CACHEABLE_OUTCOMES = frozenset({Outcome.ALLOWED, Outcome.REFUSED})
"""Definite answers; failures are retried on the next check."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    allowed: bool
    outcome: Outcome
    reason: str
    operation: Operation
    subject: Subject
    latency_ms: float  # time this check took; a cache hit takes next to nothing
    http_status: int | None = None  # the partner's status, when it answered
    failure: FailureKind | None = None  # set for the two error outcomes
    cached: bool = False  # reused from an earlier call, whose request_id and status it keeps
    request_id: str | None = None  # the request_id sent in the body; None when nothing was sent
    decided_at: Timestamp

    @property
    def cacheable(self) -> bool:
        return self.outcome in CACHEABLE_OUTCOMES

    def raise_if_refused(self) -> None:
        """Raise :class:`UserNotAllowed` unless the user may go ahead."""
        if self.allowed:
            return
        raise UserNotAllowed(
            f"user not allowed: {self.reason}",
            reason=self.reason,
            outcome=self.outcome.value,
            operation=self.operation.value,
        )


def summary(decision: Decision) -> str:
    """One line for a log or a timeline note."""
    status = "" if decision.http_status is None else f" HTTP {decision.http_status}"
    cached = " (cached)" if decision.cached else ""
    return (
        f"authorization {decision.operation} for {decision.subject}: "
        f"{decision.outcome}{status}{cached}: {decision.reason}"
    )
