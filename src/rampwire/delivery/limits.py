"""Per-endpoint limits inside one worker: requests in flight, and requests per second."""

from __future__ import annotations

import asyncio
import time


class EndpointLimiter:
    """At most ``max_in_flight`` concurrent sends and ``rate`` starts per second (token bucket,
    burst of one second's worth)."""

    def __init__(self, *, max_in_flight: int, rate: int | None) -> None:
        self.max_in_flight = max_in_flight
        self.rate = rate
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tokens = float(rate or 0)
        self._refilled = time.monotonic()
        self._bucket = asyncio.Lock()

    def same_settings(self, max_in_flight: int, rate: int | None) -> bool:
        return self.max_in_flight == max_in_flight and self.rate == rate

    async def acquire(self) -> None:
        await self._slots.acquire()
        if self.rate is None:
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
            self._slots.release()
            raise

    def release(self) -> None:
        self._slots.release()
