"""A worker's memory of the endpoint successes it wrote (delivery.successes)."""

from __future__ import annotations

import pytest

from rampwire.delivery import successes
from rampwire.delivery.successes import SuccessesWritten

RESOLUTION_US = 10_000_000


def test_a_success_written_is_not_due_again_within_the_resolution() -> None:
    written = SuccessesWritten(resolution_us=RESOLUTION_US)
    assert written.due(["a", "b"], 100) == ["a", "b"]  # never written: due
    written.wrote(["a"], 100)
    assert written.due(["a", "b"], 100 + RESOLUTION_US - 1) == ["b"]
    assert written.due(["a", "b"], 100 + RESOLUTION_US) == ["a", "b"]  # a resolution old
    assert written.due(["a"], 99) == ["a"]  # the clock went back: checked


def test_a_failure_seen_makes_the_next_success_due() -> None:
    written = SuccessesWritten(resolution_us=RESOLUTION_US)
    written.wrote(["a", "b"], 0)
    written.failed(["a", "c"])
    assert written.due(["a", "b"], 1) == ["a"]


def test_stale_entries_are_dropped_beyond_the_kept_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(successes, "KEPT_ENDPOINTS", 3)
    written = SuccessesWritten(resolution_us=RESOLUTION_US)
    written.wrote(["a", "b", "c"], 0)
    assert len(written) == 3
    written.wrote(["d"], RESOLUTION_US + 1)  # a, b and c are a resolution old: dropped
    assert len(written) == 1
    assert written.due(["a", "d"], RESOLUTION_US + 2) == ["a"]
