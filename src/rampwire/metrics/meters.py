"""The process's meters: one :class:`Metrics` per process, its own registry, and one method
per thing that happens (a delivery attempted, an inbound request answered, a batch committed).

Callers say what happened in their own terms; the label values are chosen here, from closed
sets (outcomes, error classes, dialects, refusal codes), so a label's cardinality is bounded by
the code, not by traffic. Source ids are the one open label: sources are few and made by an
administrator. Partners are many: their counters exist only when asked for, with a bounded set
of values (:mod:`.partners`). With metrics off every method returns at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from .partners import PartnerLabels
from .series import Buckets, Count

C = TypeVar("C", Count, Buckets)

# Attempt and callback latencies: 5 ms to the 15 s total timeout of an attempt.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
# Verification and transactions: 100 µs to 2.5 s.
FAST_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 500)  # requests or results per transaction

# A delivery's status after an attempt, in the words of the metrics.
OUTCOMES = {"succeeded": "delivered", "retrying": "retrying", "dead": "dead"}
UNENCODABLE = "unencodable"
NO_ERROR = "none"


class Metrics:
    """Counters and histograms of one process; ``enabled=False``: nothing is counted."""

    def __init__(self, *, enabled: bool = True, partners: PartnerLabels | None = None) -> None:
        """``partners``: count deliveries and ingest requests per partner too."""
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=False)
        register = self._own
        self.partners = partners if enabled else None
        self._partner_deliveries: Count | None = None
        self._partner_ingest: Count | None = None
        if self.partners is not None:
            self._partner_deliveries = register(
                Count(
                    "rampwire_partner_deliveries",
                    "Delivery attempts by the order's partner (its id, 'other' or 'operator')"
                    " and the delivery's outcome.",
                    ["partner", "outcome"],
                )
            )
            self._partner_ingest = register(
                Count(
                    "rampwire_partner_ingest_requests",
                    "Inbound provider requests by the source's partner (its id, 'other' or"
                    " 'operator') and outcome.",
                    ["partner", "outcome"],
                )
            )
        self._deliveries = register(
            Count(
                "rampwire_deliveries",
                "Delivery attempts by the delivery's outcome (delivered, retrying, dead,"
                " unencodable) and the endpoint's dialect.",
                ["outcome", "dialect"],
            )
        )
        self._attempts = register(
            Count(
                "rampwire_delivery_attempts",
                "Delivery attempts by error class ('none': a 2xx answer).",
                ["error_class"],
            )
        )
        self._attempt_seconds = register(
            Buckets(
                "rampwire_delivery_attempt_seconds",
                "How long a delivery attempt took, request and answer.",
                ["dialect"],
                buckets=LATENCY_BUCKETS_S,
            )
        )
        self._disabled = register(
            Count(
                "rampwire_endpoints_disabled",
                "Endpoints disabled by the worker, by reason (gone: 410; failing: no success for"
                " the disable-after span).",
                ["reason"],
            )
        )
        self._ingest = register(
            Count(
                "rampwire_ingest_requests",
                "Inbound provider requests by source and outcome (applied, duplicate, unchanged,"
                " unmapped, unapplied, refused) and the refusal's reason.",
                ["source", "outcome", "reason"],
            )
        )
        self._verify_seconds = register(
            Buckets(
                "rampwire_ingest_verification_seconds",
                "How long verifying and decoding an inbound request took.",
                ["provider"],
                buckets=FAST_BUCKETS_S,
            )
        )
        self._decisions = register(
            Count(
                "rampwire_authorization_decisions",
                "Authorization decisions by outcome.",
                ["outcome"],
            )
        )
        self._callback_seconds = register(
            Buckets(
                "rampwire_authorization_callback_seconds",
                "How long an authorization check took (a cache hit takes next to nothing).",
                [],
                buckets=LATENCY_BUCKETS_S,
            )
        )
        self._batch_size = register(
            Buckets(
                "rampwire_group_commit_batch_size",
                "Jobs per group-commit transaction, by writer (order_creates, order_changes,"
                " ingest, delivery_results).",
                ["writer"],
                buckets=BATCH_BUCKETS,
            )
        )
        self._transaction_seconds = register(
            Buckets(
                "rampwire_group_commit_transaction_seconds",
                "How long a group-commit transaction took, by writer.",
                ["writer"],
                buckets=FAST_BUCKETS_S,
            )
        )

    def _own(self, collector: C) -> C:
        self.registry.register(collector)
        return collector

    def register(self, collector: Collector) -> None:
        """Add a collector read at scrape time (the backlog, the database pool)."""
        self.registry.register(collector)

    def attempted(
        self,
        *,
        status: str,
        dialect: str,
        error_class: str | None,
        seconds: float,
        partner: str | None = None,
    ) -> None:
        """A delivery attempt ended; ``status`` is the delivery's status after it, ``partner``
        the order's partner (None: the operator's)."""
        if not self.enabled:
            return
        error = error_class or NO_ERROR
        outcome = UNENCODABLE if error == UNENCODABLE else OUTCOMES.get(status, status)
        self._deliveries.inc((outcome, dialect))
        if self._partner_deliveries is not None and self.partners is not None:
            self._partner_deliveries.inc((self.partners.label(partner), outcome))
        self._attempts.inc((error,))
        if error != UNENCODABLE:  # nothing was sent: no latency to speak of
            self._attempt_seconds.observe((dialect,), seconds)

    def endpoints_disabled(self, reasons: Iterable[str]) -> None:
        if not self.enabled:
            return
        for reason in reasons:
            self._disabled.inc((reason,))

    def ingested(
        self, *, source: str, outcome: str, reason: str = "", partner: str | None = None
    ) -> None:
        """``partner``: the source's (None: the operator's, or an unknown source)."""
        if self.enabled:
            self._ingest.inc((source, outcome, reason))
            if self._partner_ingest is not None and self.partners is not None:
                self._partner_ingest.inc((self.partners.label(partner), outcome))

    def verified(self, *, provider: str, seconds: float) -> None:
        if self.enabled:
            self._verify_seconds.observe((provider,), seconds)

    def decided(self, *, outcome: str, seconds: float) -> None:
        if self.enabled:
            self._decisions.inc((outcome,))
            self._callback_seconds.observe((), seconds)

    def committed(self, *, writer: str, size: int, seconds: float) -> None:
        if self.enabled:
            self._batch_size.observe((writer,), size)
            self._transaction_seconds.observe((writer,), seconds)


__all__ = ["Metrics"]
