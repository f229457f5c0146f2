"""Counters and histograms kept in plain dicts and rendered at scrape time, for the hot paths
(a delivery attempt, an inbound request, a group commit).

prometheus_client's ``Counter.labels(...).inc()`` and ``Histogram.observe()`` take a lock and
go through several Python calls per update, a few per cent of a delivery's work in all
(docs/benchmarks.md, "Metrics' cost decided"). Here an update is a dict update (and a
``bisect`` for a histogram): no lock, since every update runs on the process's event loop
thread; a scrape reads copies.
The exposition is the one prometheus_client's own metrics give, ``_created`` included: the
families are prometheus_client's public ``CounterMetricFamily`` and ``HistogramMetricFamily``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import INF, floatToGoString

Labels = tuple[str, ...]


class Count(Collector):
    """A counter with labels: ``inc(("a", "b"))`` counts one under those label values."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._values: dict[Labels, float] = {}
        self._created: dict[Labels, float] = {}

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        found = self._values.get(labels)
        if found is None:
            self._created[labels] = time.time()
            found = 0.0
        self._values[labels] = found + amount

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        created = dict(self._created)
        for labels, value in list(self._values.items()):
            family.add_metric(list(labels), value, created=created.get(labels))
        yield family


class Buckets(Collector):
    """A histogram with labels (or none: ``labelnames=()``, shown from the start at zero, as
    prometheus_client shows an unlabelled one). ``observe(labels, amount)`` counts the amount in
    the first bucket whose bound is at least it, as prometheus_client does."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = (*(float(b) for b in buckets), INF)
        # the `le` values prometheus_client's own histograms show (its helper is untyped)
        self._les: list[str] = [floatToGoString(b) for b in self._bounds]  # type: ignore[no-untyped-call]
        # per label values: a count per bucket (not cumulative), then the sum
        self._series: dict[Labels, list[float]] = {}
        self._created: dict[Labels, float] = {}
        if not self._labelnames:
            self._start(())

    def _start(self, labels: Labels) -> list[float]:
        self._created[labels] = time.time()
        found = self._series[labels] = [0.0] * (len(self._bounds) + 1)
        return found

    def observe(self, labels: Labels, amount: float) -> None:
        found = self._series.get(labels) or self._start(labels)
        found[bisect_left(self._bounds, amount)] += 1.0
        found[-1] += amount

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        created = dict(self._created)
        for labels, series in list(self._series.items()):
            counts = list(series)
            cumulative, acc = [], 0.0
            for le, count in zip(self._les, counts, strict=False):
                acc += count
                cumulative.append((le, acc))
            family.add_metric(list(labels), cumulative, counts[-1])
            named = dict(zip(self._labelnames, labels, strict=True))
            family.samples.append(Sample(f"{self._name}_created", named, created[labels]))
        yield family


__all__ = ["Buckets", "Count"]
