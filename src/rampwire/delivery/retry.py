"""When to try again: the dialect's (or the endpoint's) ladder, jitter, and what the receiver
asked for.

A policy is data (:class:`~rampwire.dialects.base.DeliveryPolicy`); this module applies it to
one failed attempt. On top of the ladder: a receiver that timed out or answered 429 gets at least
:data:`THROTTLE_FLOOR` before the next try, and a ``Retry-After`` header is honoured up to
:data:`RETRY_AFTER_CAP`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from ..dialects.base import STANDARD_JITTER, STANDARD_RETRY_DELAYS, DeliveryPolicy
from ..domain.deliveries import ErrorClass

THROTTLE_FLOOR = timedelta(seconds=60)  # after a timeout or a 429
RETRY_AFTER_CAP = timedelta(hours=6)  # a longer Retry-After is cut to this
MAX_RETRIES = 30  # an endpoint's own ladder holds at most this many delays
MAX_DELAY_S = 7 * 24 * 3600  # one delay in an endpoint's own ladder, at most

DEFAULT_POLICY = DeliveryPolicy(retry_delays=STANDARD_RETRY_DELAYS, jitter=STANDARD_JITTER)


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # str.isdigit alone accepts "²"
        seconds = int(text)
        return (
            RETRY_AFTER_CAP
            if seconds > RETRY_AFTER_CAP.total_seconds()
            else timedelta(seconds=seconds)
        )
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def next_attempt_at(
    policy: DeliveryPolicy,
    *,
    attempts_made: int,
    status: int | None,
    error_class: ErrorClass | None,
    retry_after: str | None,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after the ``attempts_made``-th attempt failed; None: it is dead."""
    if error_class in (ErrorClass.BAD_CONFIGURATION, ErrorClass.UNENCODABLE):
        return None  # sending it again cannot help
    if status is not None and not policy.should_retry(status):
        return None
    spread = (rng or random).uniform(-1.0, 1.0)
    seconds = policy.delay(attempts_made, spread=spread)
    if seconds is None:
        return None
    delay = timedelta(seconds=seconds)
    if status == 429 or error_class is ErrorClass.TIMEOUT:
        delay = max(delay, THROTTLE_FLOOR)
    asked = parse_retry_after(retry_after, now=now)
    if asked is not None:
        delay = max(delay, min(asked, RETRY_AFTER_CAP))
    return now + delay


def policy_from_json(
    data: Mapping[str, Any], base: DeliveryPolicy = DEFAULT_POLICY
) -> DeliveryPolicy:
    """An endpoint's own ladder: ``{"retry_delays": [5, 60], "jitter": 0.2, ...}``; what it
    leaves out comes from ``base`` (the endpoint dialect's policy).

    Raises ValueError naming the bad part.
    """
    unknown = set(data) - {"retry_delays", "jitter", "retry_client_errors", "retried_client_errors"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    delays = data.get("retry_delays", list(base.retry_delays))
    if not isinstance(delays, list) or not all(
        isinstance(d, int | float) and not isinstance(d, bool) for d in delays
    ):
        raise ValueError("retry_delays must be a list of seconds")
    if len(delays) > MAX_RETRIES or any(not 0 <= d <= MAX_DELAY_S for d in delays):
        raise ValueError(f"at most {MAX_RETRIES} delays, each 0 to {MAX_DELAY_S} seconds")
    jitter = data.get("jitter", base.jitter)
    if not isinstance(jitter, int | float) or isinstance(jitter, bool) or not 0 <= jitter < 1:
        raise ValueError("jitter must be a number from 0 up to (not including) 1")
    retry_client_errors = data.get("retry_client_errors", base.retry_client_errors)
    if not isinstance(retry_client_errors, bool):
        raise ValueError("retry_client_errors must be true or false")
    retried = data.get("retried_client_errors", sorted(base.retried_client_errors))
    if not isinstance(retried, list) or not all(
        isinstance(c, int) and 400 <= c < 500 for c in retried
    ):
        raise ValueError("retried_client_errors must be a list of 4xx codes")
    return DeliveryPolicy(
        retry_delays=tuple(float(d) for d in delays),
        jitter=float(jitter),
        retry_client_errors=retry_client_errors,
        retried_client_errors=frozenset(retried),
    )
