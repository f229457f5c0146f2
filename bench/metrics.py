"""What the metrics hooks cost per call, on this machine, in one process: the figure that the
end-to-end comparisons (bench/delivery.py --phases metrics, bench/ingest.py --metrics-rounds)
cannot resolve under a shared machine's noise.

    .venv/bin/python bench/metrics.py

Per call, metrics on and off: a delivery attempt counted (what the worker does per send), an
inbound request counted and its verification timed (per ingest request), a group-commit
transaction observed (per batch). The best of five runs of 200,000 calls each.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rampwire.metrics import Metrics

CALLS = 200_000
RUNS = 5


def per_call_us(call: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(CALLS):
            call()
        best = min(best, (time.perf_counter() - started) / CALLS)
    return best * 1e6


def main() -> None:
    for enabled in (False, True):
        metrics = Metrics(enabled=enabled)

        def attempt(m: Metrics = metrics) -> None:
            m.attempted(status="succeeded", dialect="standard", error_class=None, seconds=0.01)

        def ingest(m: Metrics = metrics) -> None:
            m.ingested(source="src_01", outcome="applied")
            m.verified(provider="revolut", seconds=0.0002)

        def commit(m: Metrics = metrics) -> None:
            m.committed(writer="ingest", size=16, seconds=0.002)

        print(
            f"metrics {'on ' if enabled else 'off'}:"
            f" attempt {per_call_us(attempt):.2f} us,"
            f" ingest request {per_call_us(ingest):.2f} us,"
            f" group commit {per_call_us(commit):.2f} us"
        )


if __name__ == "__main__":
    main()
