"""Settings read from the database on the hot path, reused for a short while (single-flight).

A worker looks up an endpoint's send settings for every attempt, and ingest a source's
credentials for every request. :class:`Loaded` keeps each value for ``ttl_s``; callers that
find it missing or expired all wait for the same load (without that, every request in flight
when an entry expired read it again: 94 to 330 reads of one source per benchmark run instead of
one per expiry); an entry about to expire is reloaded in the background while it is still
served, so a busy key never waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from .errors import ClientError

K = TypeVar("K")
V = TypeVar("V")


class Loaded(Generic[K, V]):
    """Values of ``load(key)``, each reused for ``ttl_s`` from the start of its load and
    reloaded in the background in its last ``refresh_s``. A load that raises caches nothing:
    each caller waiting for it gets the error, and the next call loads again."""

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        ttl_s: float,
        refresh_s: float,
        name: str,
        log: logging.Logger,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._refresh_s = refresh_s
        self._name = name
        self._log = log
        self._values: dict[K, tuple[float, V]] = {}  # key -> (expiry, monotonic seconds; value)
        self._loading: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K) -> V:
        cached = self._values.get(key)
        if cached is not None:
            left = cached[0] - time.monotonic()
            if left > 0:
                if left < self._refresh_s:
                    self._start(key)
                return cached[1]
        # Shielded: other callers wait for the same load, so it goes on if this one is cancelled.
        return await asyncio.shield(self._start(key))

    def forget(self, key: K) -> None:
        """Drop the cached value, and keep a load in progress from caching its answer: the
        next call reads again."""
        self._values.pop(key, None)
        self._loading.pop(key, None)

    def close(self) -> None:
        """Cancel the loads in progress (at shutdown)."""
        for task in self._loading.values():
            task.cancel()
        self._loading.clear()

    def _start(self, key: K) -> asyncio.Task[V]:
        """The load of ``key`` in progress, started if there is none."""
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._run(key), name=f"rampwire-{self._name}")
            self._loading[key] = task
            task.add_done_callback(lambda done: self._done(key, done))
        return task

    async def _run(self, key: K) -> V:
        started = time.monotonic()
        value = await self._load(key)
        if self._loading.get(key) is asyncio.current_task():  # not forgotten meanwhile
            self._values[key] = (started + self._ttl_s, value)
        return value

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if not isinstance(exc, ClientError):  # an unknown key is its callers' answer
            self._log.warning("loading %s %s failed: %s", self._name, key, exc)
