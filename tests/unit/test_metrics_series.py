"""rampwire.metrics.series: the plain-dict counters and histograms render exactly what
prometheus_client's own Counter and Histogram render for the same updates."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from rampwire.metrics.meters import FAST_BUCKETS_S, LATENCY_BUCKETS_S
from rampwire.metrics.series import Buckets, Count

LABELS = st.sampled_from([("a", "x"), ("b", "x"), ("a", "y")])
AMOUNTS = st.one_of(
    st.sampled_from([0.0, 0.005, 0.0050001, 15.0, 16.0, *FAST_BUCKETS_S]),
    st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
)


def _text(registry: CollectorRegistry) -> str:
    """The exposition, each ``_created`` timestamp (the wall clock at first use) left out."""
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", generate_latest(registry).decode())


@given(st.lists(st.tuples(LABELS, st.integers(min_value=1, max_value=3)), max_size=30))
def test_a_count_renders_as_a_counter(updates: list[tuple[tuple[str, str], int]]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("c", "help text", ["k", "v"], registry=theirs)
    count = Count("c", "help text", ["k", "v"])
    ours.register(count)
    for labels, amount in updates:
        counter.labels(*labels).inc(amount)
        count.inc(labels, amount)
    assert _text(ours) == _text(theirs)
    for (k, v), _ in updates:
        named = {"k": k, "v": v}
        assert ours.get_sample_value("c_total", named) == theirs.get_sample_value("c_total", named)


@given(st.lists(st.tuples(LABELS, AMOUNTS), max_size=30))
def test_buckets_render_as_a_histogram(updates: list[tuple[tuple[str, str], float]]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("h", "help", ["k", "v"], buckets=LATENCY_BUCKETS_S, registry=theirs)
    buckets = Buckets("h", "help", ["k", "v"], buckets=LATENCY_BUCKETS_S)
    ours.register(buckets)
    for labels, amount in updates:
        histogram.labels(*labels).observe(amount)
        buckets.observe(labels, amount)
    assert _text(ours) == _text(theirs)


def test_an_unlabelled_histogram_is_shown_from_the_start() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("h", "help", buckets=FAST_BUCKETS_S, registry=theirs)
    ours.register(Buckets("h", "help", [], buckets=FAST_BUCKETS_S))
    assert _text(ours) == _text(theirs)
    histogram.observe(0.001)
    assert _text(ours) != _text(theirs)
