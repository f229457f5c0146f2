"""When a failed delivery is tried again: the ladder and its jitter, Retry-After, the throttle
floor, Fireblocks' policy, and endpoint policies read from JSON."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.delivery.retry import (
    DEFAULT_POLICY,
    MAX_DELAY_S,
    MAX_RETRIES,
    RETRY_AFTER_CAP,
    THROTTLE_FLOOR,
    next_attempt_at,
    policy_from_json,
)
from rampwire.dialects import get_dialect
from rampwire.dialects.base import DeliveryPolicy
from rampwire.domain.deliveries import ErrorClass

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
MINUTE, HOUR = 60, 3600
# Seconds to wait before attempts 2 to 10; attempt 1 goes out at once.
LADDER = (
    5,
    5 * MINUTE,
    30 * MINUTE,
    2 * HOUR,
    5 * HOUR,
    10 * HOUR,
    14 * HOUR,
    20 * HOUR,
    24 * HOUR,
)
FIREBLOCKS = get_dialect("fireblocks").policy


def wait(
    policy: DeliveryPolicy,
    attempts_made: int,
    *,
    status: int | None = 500,
    error_class: ErrorClass | None = ErrorClass.HTTP_STATUS,
    retry_after: str | None = None,
    rng: random.Random | None = None,
) -> timedelta | None:
    """How long after NOW the next attempt is due; None: the delivery is dead."""
    at = next_attempt_at(
        policy,
        attempts_made=attempts_made,
        status=status,
        error_class=error_class,
        retry_after=retry_after,
        now=NOW,
        rng=rng or random.Random(0),
    )
    return None if at is None else at - NOW


def within_jitter(delay: timedelta | None, nominal: float, jitter: float = 0.2) -> bool:
    assert delay is not None
    return nominal * (1 - jitter) <= delay.total_seconds() <= nominal * (1 + jitter)


# --- the default ladder ---------------------------------------------------------------------


def test_the_default_ladder_is_ten_attempts_with_twenty_percent_jitter() -> None:
    assert DEFAULT_POLICY.retry_delays == LADDER
    assert DEFAULT_POLICY.jitter == 0.2
    assert DEFAULT_POLICY.max_attempts == 10


def test_a_seeded_walk_down_the_ladder_ends_dead_after_the_tenth_attempt() -> None:
    rng = random.Random(20250115)
    for attempts_made, nominal in enumerate(LADDER, start=1):
        delay = wait(DEFAULT_POLICY, attempts_made, rng=rng)
        assert within_jitter(delay, nominal), (attempts_made, delay)
    assert wait(DEFAULT_POLICY, 10, rng=rng) is None  # there is no 11th attempt


@given(seed=st.integers(), attempts_made=st.integers(min_value=1, max_value=len(LADDER)))
def test_every_delay_lies_within_twenty_percent_of_the_ladder(
    seed: int, attempts_made: int
) -> None:
    delay = wait(DEFAULT_POLICY, attempts_made, rng=random.Random(seed))
    assert within_jitter(delay, LADDER[attempts_made - 1])


def test_jitter_spreads_delays_on_both_sides_of_the_ladder() -> None:
    delays = [wait(DEFAULT_POLICY, 2, rng=random.Random(seed)) for seed in range(200)]
    below = [d for d in delays if d is not None and d.total_seconds() < 5 * MINUTE]
    above = [d for d in delays if d is not None and d.total_seconds() > 5 * MINUTE]
    assert below and above
    assert len(set(delays)) > 100


def test_the_standard_policy_retries_every_non_2xx_answer() -> None:
    for status in (400, 401, 404, 408, 409, 422, 429, 500, 503):
        assert wait(DEFAULT_POLICY, 1, status=status) is not None, status


def test_a_bad_configuration_is_never_retried() -> None:
    assert wait(DEFAULT_POLICY, 1, status=None, error_class=ErrorClass.BAD_CONFIGURATION) is None


@pytest.mark.parametrize(
    "dialect", ["standard", "revolut", "saber", "fireblocks", "koywe", "transak"]
)
def test_a_refused_target_walks_the_ladder_to_dead_like_a_connection_error(dialect: str) -> None:
    """DNS rebinding: the guard refuses the address at send time, with no answer to read."""
    policy = get_dialect(dialect).policy
    for attempts_made in range(1, policy.max_attempts + 1):
        refused = wait(policy, attempts_made, status=None, error_class=ErrorClass.FORBIDDEN_TARGET)
        unreachable = wait(policy, attempts_made, status=None, error_class=ErrorClass.CONNECTION)
        assert refused == unreachable, attempts_made
    assert refused is None  # dead after the last attempt


# --- Retry-After ----------------------------------------------------------------------------


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 120 ", timedelta(seconds=120)),
        (http_date(NOW + timedelta(minutes=15)), timedelta(minutes=15)),
        ("86400", RETRY_AFTER_CAP),  # a day asked, six hours granted
        (str(10**9), RETRY_AFTER_CAP),
        (http_date(NOW + timedelta(days=3)), RETRY_AFTER_CAP),
        pytest.param(
            "99999999999999999999",
            RETRY_AFTER_CAP,
            id="huge-number",
        ),
    ],
)
def test_retry_after_is_honoured_up_to_the_cap(retry_after: str, expected: timedelta) -> None:
    assert RETRY_AFTER_CAP == timedelta(hours=6)
    assert wait(DEFAULT_POLICY, 1, status=503, retry_after=retry_after) == expected


def test_a_short_retry_after_does_not_shorten_the_ladder() -> None:
    same_draw = wait(DEFAULT_POLICY, 3, status=503, rng=random.Random(3))
    asked = wait(DEFAULT_POLICY, 3, status=503, retry_after="10", rng=random.Random(3))
    assert asked == same_draw and within_jitter(asked, 30 * MINUTE)


@pytest.mark.parametrize(
    "retry_after",
    [
        "",
        "soon",
        "1.5",
        "-5",
        "0x10",
        "Wed, 99 Foo 2025 12:00:00 GMT",
        "Wed, 15 Jan 2025 12:05:00 -0000",  # no zone: a naive date
        http_date(NOW - timedelta(hours=1)),  # in the past
        pytest.param(
            "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() says yes, int() says no
        ),
    ],
)
def test_an_unreadable_retry_after_is_ignored(retry_after: str) -> None:
    plain = wait(DEFAULT_POLICY, 1, status=503, rng=random.Random(9))
    asked = wait(DEFAULT_POLICY, 1, status=503, retry_after=retry_after, rng=random.Random(9))
    assert asked == plain and within_jitter(asked, 5)


# --- the throttle floor ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(None, ErrorClass.TIMEOUT), (429, ErrorClass.HTTP_STATUS)],
    ids=["timeout", "429"],
)
def test_a_timeout_or_a_429_waits_at_least_a_minute(
    status: int | None, error_class: ErrorClass
) -> None:
    assert THROTTLE_FLOOR == timedelta(seconds=60)
    assert wait(DEFAULT_POLICY, 1, status=status, error_class=error_class) == THROTTLE_FLOOR
    # a shorter Retry-After does not undercut the floor, a longer one is honoured
    short = wait(DEFAULT_POLICY, 1, status=status, error_class=error_class, retry_after="10")
    long = wait(DEFAULT_POLICY, 1, status=status, error_class=error_class, retry_after="600")
    assert short == THROTTLE_FLOOR and long == timedelta(minutes=10)
    # higher up the ladder, the ladder is already longer than the floor
    later = wait(DEFAULT_POLICY, 3, status=status, error_class=error_class)
    assert within_jitter(later, 30 * MINUTE)


@given(
    seed=st.integers(),
    attempts_made=st.integers(min_value=1, max_value=len(LADDER)),
    throttled=st.sampled_from([(None, ErrorClass.TIMEOUT), (429, ErrorClass.HTTP_STATUS)]),
)
def test_the_floor_holds_at_every_rung(
    seed: int, attempts_made: int, throttled: tuple[int | None, ErrorClass]
) -> None:
    status, error_class = throttled
    delay = wait(
        DEFAULT_POLICY,
        attempts_made,
        status=status,
        error_class=error_class,
        rng=random.Random(seed),
    )
    assert delay is not None and delay >= THROTTLE_FLOOR


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(None, ErrorClass.CONNECTION), (503, ErrorClass.HTTP_STATUS), (302, ErrorClass.REDIRECT)],
)
def test_other_failures_get_no_floor(status: int | None, error_class: ErrorClass) -> None:
    assert within_jitter(wait(DEFAULT_POLICY, 1, status=status, error_class=error_class), 5)


# --- Fireblocks -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 422, 451])
def test_fireblocks_does_not_retry_a_client_error(status: int) -> None:
    assert wait(FIREBLOCKS, 1, status=status) is None


@pytest.mark.parametrize(
    ("status", "error_class", "expected"),
    [
        (408, ErrorClass.HTTP_STATUS, 10),
        (429, ErrorClass.HTTP_STATUS, 60),  # its first delay, raised to the throttle floor
        (500, ErrorClass.HTTP_STATUS, 10),
        (502, ErrorClass.HTTP_STATUS, 10),
        (503, ErrorClass.HTTP_STATUS, 10),
        (None, ErrorClass.CONNECTION, 10),
        (None, ErrorClass.TIMEOUT, 60),
    ],
)
def test_fireblocks_retries_408_429_5xx_and_no_answer(
    status: int | None, error_class: ErrorClass, expected: int
) -> None:
    assert wait(FIREBLOCKS, 1, status=status, error_class=error_class) == timedelta(
        seconds=expected
    )


def test_fireblocks_ladder_is_exact_and_ten_attempts_long() -> None:
    assert FIREBLOCKS.max_attempts == 10 and FIREBLOCKS.jitter == 0.0
    delays = [wait(FIREBLOCKS, n, rng=random.Random(n)) for n in range(1, 10)]
    assert delays == [timedelta(seconds=s) for s in FIREBLOCKS.retry_delays]
    assert wait(FIREBLOCKS, 10) is None


# --- an endpoint's own policy ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"retry_delays": [5, 60.5]},
            DeliveryPolicy(retry_delays=(5.0, 60.5), jitter=0.2),
        ),
        ({"retry_delays": [], "jitter": 0}, DeliveryPolicy(retry_delays=(), jitter=0.0)),
        (
            {
                "retry_delays": [1],
                "jitter": 0.5,
                "retry_client_errors": False,
                "retried_client_errors": [408, 429],
            },
            DeliveryPolicy(
                retry_delays=(1.0,),
                jitter=0.5,
                retry_client_errors=False,
                retried_client_errors=frozenset({408, 429}),
            ),
        ),
        (
            {"retry_delays": [0, MAX_DELAY_S] * (MAX_RETRIES // 2)},
            DeliveryPolicy(retry_delays=(0.0, float(MAX_DELAY_S)) * (MAX_RETRIES // 2), jitter=0.2),
        ),
    ],
    ids=["delays", "no-retries", "everything", "the-limits"],
)
def test_a_valid_policy_is_read(data: dict[str, Any], expected: DeliveryPolicy) -> None:
    assert policy_from_json(data) == expected


def test_an_empty_ladder_means_a_single_attempt() -> None:
    assert wait(policy_from_json({"retry_delays": []}), 1) is None


def test_an_override_keeps_what_it_leaves_out_from_the_dialect_policy() -> None:
    fireblocks = get_dialect("fireblocks").policy
    policy = policy_from_json({"retry_delays": [1, 2]}, base=fireblocks)
    assert policy.retry_delays == (1.0, 2.0)
    assert policy.jitter == fireblocks.jitter
    assert policy.retry_client_errors is fireblocks.retry_client_errors is False
    assert policy.retried_client_errors == fireblocks.retried_client_errors
    assert policy_from_json({}, base=fireblocks) == fireblocks
    assert policy_from_json({"retry_client_errors": True}, base=fireblocks).should_retry(400)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"retry_delays": None}, "retry_delays"),
        ({"retry_delays": "5"}, "retry_delays"),
        ({"retry_delays": {"1": 5}}, "retry_delays"),
        ({"retry_delays": [True]}, "retry_delays"),
        ({"retry_delays": ["5"]}, "retry_delays"),
        ({"retry_delays": [[5]]}, "retry_delays"),
        ({"retry_delays": [None]}, "retry_delays"),
        ({"retry_delays": [-1]}, "delays"),
        ({"retry_delays": [MAX_DELAY_S + 1]}, "delays"),
        ({"retry_delays": [float("nan")]}, "delays"),
        ({"retry_delays": [float("inf")]}, "delays"),
        ({"retry_delays": [10**400]}, "delays"),
        ({"retry_delays": [1] * (MAX_RETRIES + 1)}, "delays"),
        ({"retry_delays": [1], "jitter": "0.2"}, "jitter"),
        ({"retry_delays": [1], "jitter": True}, "jitter"),
        ({"retry_delays": [1], "jitter": None}, "jitter"),
        ({"retry_delays": [1], "jitter": 1.0}, "jitter"),
        ({"retry_delays": [1], "jitter": -0.1}, "jitter"),
        ({"retry_delays": [1], "jitter": float("nan")}, "jitter"),
        pytest.param(
            {"retry_delays": [1], "jitter": 10**400},
            "jitter",
            id="jitter-huge-int",
        ),
        ({"retry_delays": [1], "retry_client_errors": "yes"}, "retry_client_errors"),
        ({"retry_delays": [1], "retry_client_errors": 1}, "retry_client_errors"),
        ({"retry_delays": [1], "retried_client_errors": "408"}, "retried_client_errors"),
        ({"retry_delays": [1], "retried_client_errors": [500]}, "retried_client_errors"),
        ({"retry_delays": [1], "retried_client_errors": [408.0]}, "retried_client_errors"),
        ({"retry_delays": [1], "retried_client_errors": [True]}, "retried_client_errors"),
        ({"retry_delays": [1], "max_attempts": 3}, "unknown keys"),
        ({"delays": [1]}, "unknown keys"),
    ],
)
def test_a_bad_policy_is_a_value_error_naming_the_part(data: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        policy_from_json(data)
