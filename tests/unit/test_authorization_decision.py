"""Decisions: their record form, and the 403 a refusal becomes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rampwire.authorization import (
    Decision,
    FailureKind,
    Operation,
    Outcome,
    Subject,
    UserNotAllowed,
)
from rampwire.authorization.decision import summary
from rampwire.domain import serde
from rampwire.errors import Forbidden

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def decision(**changes: Any) -> Decision:
    fields: dict[str, Any] = {
        "allowed": False,
        "outcome": Outcome.ERROR_FAIL_CLOSED,
        "reason": "no answer within 3 s",
        "operation": Operation.BUY,
        "subject": Subject(email="ana@example.com"),
        "latency_ms": 3000.5,
        "failure": FailureKind.TIMEOUT,
        "request_id": "azr_1",
        "decided_at": T0,
        **changes,
    }
    return Decision(**fields)


def test_record_form_for_a_timeline() -> None:
    assert serde.dump(decision()) == {
        "allowed": False,
        "outcome": "error_fail_closed",
        "reason": "no answer within 3 s",
        "operation": "buy",
        "subject": {"email": "ana@example.com", "reference": None},
        "latency_ms": 3000.5,
        "http_status": None,
        "failure": "timeout",
        "cached": False,
        "request_id": "azr_1",
        "decided_at": "2024-06-01T12:00:00Z",
    }


def test_refusal_raises_user_not_allowed() -> None:
    with pytest.raises(UserNotAllowed) as caught:
        decision().raise_if_refused()
    error = caught.value
    assert isinstance(error, Forbidden)
    assert (error.status, error.code) == (403, "user_not_allowed")
    assert error.message == "user not allowed: no answer within 3 s"
    assert error.extensions == {
        "reason": "no answer within 3 s",
        "outcome": "error_fail_closed",
        "operation": "buy",
    }


@pytest.mark.parametrize("outcome", [Outcome.ALLOWED, Outcome.ERROR_FAIL_OPEN, Outcome.DISABLED])
def test_allowed_decisions_do_not_raise(outcome: Outcome) -> None:
    decision(allowed=True, outcome=outcome).raise_if_refused()


@pytest.mark.parametrize(
    ("outcome", "cacheable"),
    [
        (Outcome.ALLOWED, True),
        (Outcome.REFUSED, True),
        (Outcome.ERROR_FAIL_CLOSED, False),
        (Outcome.ERROR_FAIL_OPEN, False),
        (Outcome.DISABLED, False),
    ],
)
def test_only_definite_answers_are_cacheable(outcome: Outcome, cacheable: bool) -> None:
    assert decision(outcome=outcome).cacheable is cacheable


def test_summary_line() -> None:
    line = summary(decision(outcome=Outcome.REFUSED, http_status=403, cached=True, reason="no"))
    assert line == "authorization buy for ana@example.com: refused HTTP 403 (cached): no"


def test_user_not_allowed_default_message() -> None:
    assert UserNotAllowed().message == (
        "The partner's authorization callback did not allow this user."
    )
