"""The receiver kit's one error: whatever is wrong with a webhook request, this is raised.

A receiver answers every refusal the same way (400 or 401, nothing processed), so one type is
enough to catch; ``reason`` says which check failed, for logs and tests::

    WebhookVerificationError
        reason: missing_header | malformed_header | no_signature | signature_mismatch
                | too_old | in_the_future | malformed_payload | invalid_secret
"""

from __future__ import annotations

from typing import Final

from ..errors import RampwireError

REASONS: Final = frozenset(
    {
        "missing_header",
        "malformed_header",
        "no_signature",
        "signature_mismatch",
        "too_old",
        "in_the_future",
        "malformed_payload",
        "invalid_secret",
    }
)


class WebhookVerificationError(RampwireError):
    """The webhook request is not proven to come from rampwire."""

    def __init__(self, message: str, *, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown verification failure reason {reason!r}")
        super().__init__(message)
        self.reason = reason


class UnusableEvent(RampwireError):
    """The envelope is not an event of this order: no ``data.order``, no ``sequence``, or
    another order's id."""
