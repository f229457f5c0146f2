"""The decision cache: expiry on an injected clock, and its bound."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rampwire.authorization import Decision, DecisionCache, Operation, Outcome, Subject


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_decision(reason: str = "allowed by partner: true") -> Decision:
    return Decision(
        allowed=True,
        outcome=Outcome.ALLOWED,
        reason=reason,
        operation=Operation.BUY,
        subject=Subject(email="ana@example.com"),
        latency_ms=1.0,
        decided_at=datetime(2024, 6, 1, tzinfo=UTC),
    )


def test_hit_until_the_ttl_ends() -> None:
    clock = Clock()
    cache = DecisionCache(clock=clock)
    decision = make_decision()
    cache.put("k", decision, ttl_seconds=30)
    clock.now = 29.999
    assert cache.get("k") is decision
    clock.now = 30.0
    assert cache.get("k") is None
    assert len(cache) == 0


@pytest.mark.parametrize("ttl", [0, -1])
def test_no_ttl_stores_nothing(ttl: float) -> None:
    cache = DecisionCache(clock=Clock())
    cache.put("k", make_decision(), ttl_seconds=ttl)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_least_recently_used_goes_first() -> None:
    cache = DecisionCache(max_entries=2, clock=Clock())
    a, b, c = (make_decision(name) for name in "abc")
    cache.put("a", a, 30)
    cache.put("b", b, 30)
    assert cache.get("a") is a  # a is now the most recently used
    cache.put("c", c, 30)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is a and cache.get("c") is c


def test_put_replaces_and_refreshes() -> None:
    clock = Clock()
    cache = DecisionCache(clock=clock)
    cache.put("k", make_decision("old"), 10)
    clock.now = 5
    new = make_decision("new")
    cache.put("k", new, 10)
    clock.now = 14
    assert cache.get("k") is new


def test_clear() -> None:
    cache = DecisionCache(clock=Clock())
    cache.put("k", make_decision(), 10)
    cache.clear()
    assert cache.get("k") is None


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DecisionCache(max_entries=0)
