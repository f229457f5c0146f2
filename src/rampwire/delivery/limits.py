"""Per-endpoint limits inside one worker: requests in flight, and requests per second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque


class EndpointLimiter:
    """At most ``max_in_flight`` concurrent sends and ``rate`` starts per second (token bucket,
    burst of one second's worth).

    Slots are counted here rather than with an ``asyncio.Semaphore`` so that the common case, a
    free slot and no rate limit, is one synchronous call (:meth:`try_acquire`). Waiters are
    served first come, first served; a released slot passes straight to the oldest waiter.

    The worker makes one only for an endpoint with a rate limit, or with more sends started
    than its in-flight limit (started under the default before its settings were read, or
    under settings that shrank): otherwise the scheduler's count of the lane's sends already
    keeps them within the limit, and most endpoints need no limiter at all.
    """

    __slots__ = (
        "_bucket",
        "_in_flight",
        "_refilled",
        "_tokens",
        "_waiting",
        "max_in_flight",
        "rate",
    )

    def __init__(self, *, max_in_flight: int, rate: int | None) -> None:
        self.max_in_flight = max_in_flight
        self.rate = rate
        self._in_flight = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._tokens = float(rate or 0)
        # the token bucket's, only with a rate limit: one of these is made per endpoint a worker
        # meets, and most endpoints have none
        self._refilled = 0.0 if rate is None else time.monotonic()
        self._bucket: asyncio.Lock | None = None if rate is None else asyncio.Lock()

    def same_settings(self, max_in_flight: int, rate: int | None) -> bool:
        return self.max_in_flight == max_in_flight and self.rate == rate

    def try_acquire(self) -> bool:
        """Take a slot if that needs no waiting: a slot is free, nobody waits before us and
        there is no rate limit. False: call :meth:`acquire`."""
        if self.rate is not None or self._waiting or self._in_flight >= self.max_in_flight:
            return False
        self._in_flight += 1
        return True

    async def acquire(self) -> None:
        await self._slot()
        if self.rate is None or self._bucket is None:
            return
        try:
            async with self._bucket:
                while True:
                    now = time.monotonic()
                    self._tokens = min(
                        float(self.rate), self._tokens + (now - self._refilled) * self.rate
                    )
                    self._refilled = now
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return
                    await asyncio.sleep((1.0 - self._tokens) / self.rate)
        except BaseException:
            self.release()
            raise

    async def _slot(self) -> None:
        if not self._waiting and self._in_flight < self.max_in_flight:
            self._in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # a slot was handed over as we gave up: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: in flight stays the same
                return
        self._in_flight -= 1
