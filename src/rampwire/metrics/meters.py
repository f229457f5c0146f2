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
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from .partners import PartnerLabels

M = TypeVar("M", Counter, Histogram)


class _Children(Generic[M]):
    """A labelled metric's children, looked up once per label values: ``labels()`` checks and
    locks on every call, which costs more than the increment itself on the hot path."""

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._found: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        found = self._found.get(values)
        if found is None:
            found = self._found[values] = self._metric.labels(*values)
        return found


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
        reg = self.registry
        self.partners = partners if enabled else None
        self._partner_deliveries: _Children[Counter] | None = None
        self._partner_ingest: _Children[Counter] | None = None
        if self.partners is not None:
            self._partner_deliveries = _Children(
                Counter(
                    "rampwire_partner_deliveries",
                    "Delivery attempts by the order's partner (its id, 'other' or 'operator')"
                    " and the delivery's outcome.",
                    ["partner", "outcome"],
                    registry=reg,
                )
            )
            self._partner_ingest = _Children(
                Counter(
                    "rampwire_partner_ingest_requests",
                    "Inbound provider requests by the source's partner (its id, 'other' or"
                    " 'operator') and outcome.",
                    ["partner", "outcome"],
                    registry=reg,
                )
            )
        self._deliveries = _Children(
            Counter(
                "rampwire_deliveries",
                "Delivery attempts by the delivery's outcome (delivered, retrying, dead,"
                " unencodable) and the endpoint's dialect.",
                ["outcome", "dialect"],
                registry=reg,
            )
        )
        self._attempts = _Children(
            Counter(
                "rampwire_delivery_attempts",
                "Delivery attempts by error class ('none': a 2xx answer).",
                ["error_class"],
                registry=reg,
            )
        )
        self._attempt_seconds = _Children(
            Histogram(
                "rampwire_delivery_attempt_seconds",
                "How long a delivery attempt took, request and answer.",
                ["dialect"],
                buckets=LATENCY_BUCKETS_S,
                registry=reg,
            )
        )
        self._disabled = _Children(
            Counter(
                "rampwire_endpoints_disabled",
                "Endpoints disabled by the worker, by reason (gone: 410; failing: no success for"
                " the disable-after span).",
                ["reason"],
                registry=reg,
            )
        )
        self._ingest = _Children(
            Counter(
                "rampwire_ingest_requests",
                "Inbound provider requests by source and outcome (applied, duplicate, unchanged,"
                " unmapped, unapplied, refused) and the refusal's reason.",
                ["source", "outcome", "reason"],
                registry=reg,
            )
        )
        self._verify_seconds = _Children(
            Histogram(
                "rampwire_ingest_verification_seconds",
                "How long verifying and decoding an inbound request took.",
                ["provider"],
                buckets=FAST_BUCKETS_S,
                registry=reg,
            )
        )
        self._decisions = _Children(
            Counter(
                "rampwire_authorization_decisions",
                "Authorization decisions by outcome.",
                ["outcome"],
                registry=reg,
            )
        )
        self._callback_seconds = Histogram(
            "rampwire_authorization_callback_seconds",
            "How long an authorization check took (a cache hit takes next to nothing).",
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        )
        self._batch_size = _Children(
            Histogram(
                "rampwire_group_commit_batch_size",
                "Jobs per group-commit transaction, by writer (order_creates, order_changes,"
                " ingest, delivery_results).",
                ["writer"],
                buckets=BATCH_BUCKETS,
                registry=reg,
            )
        )
        self._transaction_seconds = _Children(
            Histogram(
                "rampwire_group_commit_transaction_seconds",
                "How long a group-commit transaction took, by writer.",
                ["writer"],
                buckets=FAST_BUCKETS_S,
                registry=reg,
            )
        )

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
        self._deliveries(outcome, dialect).inc()
        if self._partner_deliveries is not None and self.partners is not None:
            self._partner_deliveries(self.partners.label(partner), outcome).inc()
        self._attempts(error).inc()
        if error != UNENCODABLE:  # nothing was sent: no latency to speak of
            self._attempt_seconds(dialect).observe(seconds)

    def endpoints_disabled(self, reasons: Iterable[str]) -> None:
        if not self.enabled:
            return
        for reason in reasons:
            self._disabled(reason).inc()

    def ingested(
        self, *, source: str, outcome: str, reason: str = "", partner: str | None = None
    ) -> None:
        """``partner``: the source's (None: the operator's, or an unknown source)."""
        if self.enabled:
            self._ingest(source, outcome, reason).inc()
            if self._partner_ingest is not None and self.partners is not None:
                self._partner_ingest(self.partners.label(partner), outcome).inc()

    def verified(self, *, provider: str, seconds: float) -> None:
        if self.enabled:
            self._verify_seconds(provider).observe(seconds)

    def decided(self, *, outcome: str, seconds: float) -> None:
        if self.enabled:
            self._decisions(outcome).inc()
            self._callback_seconds.observe(seconds)

    def committed(self, *, writer: str, size: int, seconds: float) -> None:
        if self.enabled:
            self._batch_size(writer).observe(size)
            self._transaction_seconds(writer).observe(seconds)


__all__ = ["Metrics"]
