"""Request quotas: a token bucket per partner (per key for operator keys) on the API, and per
source on ingest, so that one tenant's burst cannot take the server from the others.

Buckets live in this process: with several server processes each enforces the rate on its
own share of the traffic. Over the limit is a 429 naming the quota, with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import TooManyRequests

MAX_BUCKETS = 100_000  # tenants or sources remembered at once; the least recent is dropped


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # the clock when ``tokens`` was counted


class Quotas:
    """``rate`` requests per second per key, with bursts up to ``burst``."""

    def __init__(
        self,
        rate: int,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.rate = rate
        self.burst = burst or rate
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait(self, key: str) -> float:
        """Take one request of ``key``'s quota: 0 when it may go, else the seconds until it may."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), at=now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def take(self, key: str, whose: str) -> None:
        """:meth:`wait`, raising :class:`TooManyRequests` (429) over the quota; ``whose``
        names it in the message ("partner ptn_...", "source src_...")."""
        wait = self.wait(key)
        if wait:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"{whose} is over its quota of {self.rate} requests/s"
                f" (bursts of {self.burst}); retry after {seconds} s",
                retry_after=seconds,
            )
