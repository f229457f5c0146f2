"""rampwire.metrics: the label values each hook chooses, nothing counted when off, the bearer
check; and the Grafana dashboard and the alerting guide name only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rampwire.metrics import Metrics, authorized
from rampwire.services.telemetry import BACKLOG, POOL

DOCS = Path(__file__).resolve().parents[2] / "docs"
_NAME = re.compile(r"\brampwire_[a-z_]+")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("status", "error_class", "outcome", "error"),
    [
        ("succeeded", None, "delivered", "none"),
        ("retrying", "timeout", "retrying", "timeout"),
        ("dead", "http_status", "dead", "http_status"),
        ("dead", "unencodable", "unencodable", "unencodable"),
    ],
)
def test_an_attempt_is_counted_under_its_outcome_and_error_class(
    status: str, error_class: str | None, outcome: str, error: str
) -> None:
    metrics = Metrics()
    metrics.attempted(status=status, dialect="revolut", error_class=error_class, seconds=0.2)
    samples = _samples(metrics)
    key = frozenset({("outcome", outcome), ("dialect", "revolut")})
    assert samples[("rampwire_deliveries_total", key)] == 1
    assert samples[("rampwire_delivery_attempts_total", frozenset({("error_class", error)}))] == 1
    timed = ("rampwire_delivery_attempt_seconds_count", frozenset({("dialect", "revolut")}))
    assert samples.get(timed, 0) == (0 if outcome == "unencodable" else 1)


def test_nothing_is_counted_when_off() -> None:
    metrics = Metrics(enabled=False)
    metrics.attempted(status="succeeded", dialect="standard", error_class=None, seconds=0.1)
    metrics.ingested(source="src_1", outcome="applied")
    metrics.committed(writer="ingest", size=3, seconds=0.01)
    metrics.decided(outcome="allowed", seconds=0.01)
    metrics.endpoints_disabled(["gone"])
    assert not any(v for (name, _), v in _samples(metrics).items() if "_created" not in name)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer t0ken", True),
        ("Bearer t0ke", False),
        ("bearer t0ken", False),
        ("t0ken", False),
        ("", False),
        (None, False),
    ],
)
def test_the_bearer_check(header: str | None, ok: bool) -> None:
    assert authorized(header, "t0ken") is ok


def _known() -> set[str]:
    metrics = Metrics()
    names = {family.name for family in metrics.registry.collect()}
    return names | set(BACKLOG) | set(POOL)


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_the_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs
    used = {_base(name) for expr in exprs for name in _NAME.findall(expr)}
    assert used <= _known(), used - _known()
    assert {"rampwire_oldest_due_delivery_age_seconds", "rampwire_deliveries"} <= used


def test_the_alerting_guide_names_only_metrics_that_exist() -> None:
    guide = (DOCS / "observability.md").read_text()
    alerts = guide[guide.index("## Alerts") :]
    used = {_base(name) for name in _NAME.findall(alerts)}
    assert len(used) >= 5
    assert used <= _known(), used - _known()
