"""Request quotas (``api.quotas``): a token bucket per key, on an injected clock."""

from __future__ import annotations

import pytest

from rampwire.api.quotas import Quotas
from rampwire.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_then_the_rate_refills_it() -> None:
    clock = Clock()
    quotas = Quotas(2, 4, clock=clock)
    assert [quotas.wait("a") for _ in range(4)] == [0.0] * 4
    assert quotas.wait("a") == pytest.approx(0.5)  # the next token in half a second
    clock.now += 0.5
    assert quotas.wait("a") == 0.0
    assert quotas.wait("a") > 0
    clock.now += 60
    assert [quotas.wait("a") for _ in range(4)] == [0.0] * 4  # refilled to the burst, no more
    assert quotas.wait("a") > 0


def test_each_key_has_its_own_bucket() -> None:
    quotas = Quotas(1, clock=Clock())
    assert quotas.wait("a") == 0.0
    assert quotas.wait("a") > 0
    assert quotas.wait("b") == 0.0


def test_over_the_quota_is_a_429_naming_it_with_whole_seconds_to_wait() -> None:
    quotas = Quotas(1, clock=Clock())
    quotas.take("ptn_a", "partner ptn_a")
    with pytest.raises(TooManyRequests) as raised:
        quotas.take("ptn_a", "partner ptn_a")
    assert raised.value.status == 429
    assert raised.value.extensions["retry_after"] == 1
    assert "partner ptn_a" in raised.value.message and "1 requests/s" in raised.value.message


def test_the_buckets_are_bounded() -> None:
    quotas = Quotas(1, clock=Clock(), max_buckets=2)
    for key in ("a", "b", "c"):
        quotas.wait(key)
    assert quotas.wait("a") == 0.0  # forgotten (least recent), so full again
