"""What the metrics and tracing hooks cost per call, on this machine, in one process: the
figure that the end-to-end comparisons (bench/delivery.py --phases metrics,tracing,
bench/ingest.py --costs metrics,tracing) cannot resolve under a shared machine's
noise.

    cd bench && ../.venv/bin/python metrics.py

Per call, metrics off, on, and on with per-partner counters (RAMPWIRE_METRICS_PARTNER_LABELS):
a delivery attempt counted (what the worker does per send), an inbound request counted and its
verification timed (per ingest request), a group-commit transaction observed (per batch). The
best of five runs of 200,000 calls each. Then tracing off and at 10 % sampling (spans to a
sink): a request's server span with its stored context (per API or ingest request), and an
attempt span from that stored context (per delivery attempt); best of five runs of 20,000.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from harness.spans import sink_tracing

from rampwire.metrics import Metrics, PartnerLabels
from rampwire.tracing import Tracing, trace_context

CALLS = 200_000
RUNS = 5


SPANS = 20_000


def per_call_us(call: Callable[[], None], calls: int = CALLS) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def main() -> None:
    partners = PartnerLabels.parse("ptn_0123456789abcdef")
    for name, metrics in (
        ("off", Metrics(enabled=False)),
        ("on", Metrics()),
        ("on, per partner", Metrics(partners=partners)),
    ):

        def attempt(m: Metrics = metrics) -> None:
            m.attempted(
                status="succeeded",
                dialect="standard",
                error_class=None,
                seconds=0.01,
                partner="ptn_0123456789abcdef",
            )

        def ingest(m: Metrics = metrics) -> None:
            m.ingested(source="src_01", outcome="applied", partner="ptn_other0123456")
            m.verified(provider="revolut", seconds=0.0002)

        def commit(m: Metrics = metrics) -> None:
            m.committed(writer="ingest", size=16, seconds=0.002)

        print(
            f"metrics {name}:"
            f" attempt {per_call_us(attempt):.2f} us,"
            f" ingest request {per_call_us(ingest):.2f} us,"
            f" group commit {per_call_us(commit):.2f} us"
        )
    for name, tracing in (("off", Tracing()), ("10 %", sink_tracing(0.1))):
        stored: list[str | None] = []

        def request(t: Tracing = tracing, into: list[str | None] = stored) -> None:
            with t.request("POST /v1/orders/{id}/changes", {}):
                into.append(trace_context())

        request_us = per_call_us(request, SPANS)
        contexts = iter(stored)

        def attempt_span(t: Tracing = tracing, given: Iterator[str | None] = contexts) -> None:
            with t.attempt("evt_01", next(given), delivery_id="dlv_01", endpoint_id="ep_01"):
                t.note(status="succeeded", attempt=1)

        print(
            f"tracing {name}: request span and stored context {request_us:.2f} us,"
            f" attempt span {per_call_us(attempt_span, SPANS):.2f} us"
        )
        tracing.shutdown()


if __name__ == "__main__":
    main()
