"""Settings read from the database on the hot path, reused for a short while (single-flight).

Ingest looks up a source's credentials for every request. :class:`Loaded` keeps each value for
``ttl_s``; callers that find it missing or expired all wait for the same load (without that,
every request in flight when an entry expired read it again: 94 to 330 reads of one source per
benchmark run instead of one per expiry); an entry about to expire is reloaded in the background
while it is still served, so a busy key never waits. (The worker's endpoints are kept by
version instead: :mod:`rampwire.services.targets`.)

The cache is bounded in age and size: an entry is dropped once it has expired and another value
is stored (so the keys of deleted endpoints and sources do not stay for the process's life), and
at most ``max_entries`` are kept, the oldest loads going first.
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

MAX_ENTRIES = 1_024  # values kept per cache, at most: the oldest loads go first


class Loaded(Generic[K, V]):
    """Values of ``load(key)``, each reused for ``ttl_s`` from the start of its load and
    reloaded in the background in its last ``refresh_s``, at most ``max_entries`` of them. A
    load that raises caches nothing: each caller waiting for it gets the error, and the next
    call loads again."""

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        ttl_s: float,
        refresh_s: float,
        name: str,
        log: logging.Logger,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._load = load
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._refresh_s = refresh_s
        self._name = name
        self._log = log
        # key -> (expiry in monotonic seconds, value), in the order of their loads' starts
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}  # a key's load in progress

    def __len__(self) -> int:
        """The values kept, expired ones not yet dropped included."""
        return len(self._values)

    async def get(self, key: K) -> V:
        found = self.fresh(key)
        if found is not None:
            return found
        # Shielded: other callers wait for the same load, so it goes on if this one is cancelled.
        return await asyncio.shield(self._start(key))

    def fresh(self, key: K) -> V | None:
        """``key``'s value when it is kept and has not expired (its reload started in its last
        ``refresh_s``), without waiting; None otherwise (or when the value kept is None, which
        :meth:`get` then loads again): then ``await get(key)``. A plain call, for the hot
        path."""
        cached = self._values.get(key)
        if cached is not None:
            left = cached[0] - time.monotonic()
            if left > 0:
                if left < self._refresh_s:
                    self._start(key)
                return cached[1]
        return None

    def forget(self, key: K) -> None:
        """Drop the cached value, and keep a load in progress from caching its answer: the
        next call reads again."""
        self._values.pop(key, None)
        self._loading.pop(key, None)

    def close(self) -> None:
        """Cancel the loads in progress (at shutdown)."""
        for future in self._loading.values():
            future.cancel()
        self._loading.clear()

    def _start(self, key: K) -> asyncio.Future[V]:
        """The load of ``key`` in progress, started if there is none."""
        found = self._loading.get(key)
        if found is not None:
            return found
        task = asyncio.create_task(self._run(key), name=f"rampwire-{self._name}")
        self._loading[key] = task
        task.add_done_callback(lambda done: self._done(key, done))
        return task

    async def _run(self, key: K) -> V:
        started = time.monotonic()
        value = await self._load(key)
        if self._loading.get(key) is asyncio.current_task():  # not forgotten meanwhile
            self._store(key, started + self._ttl_s, value)
        return value

    def _store(self, key: K, expiry: float, value: V) -> None:
        """Keep ``value`` last; drop values from the front while they have expired or there are
        more than ``max_entries``. With one TTL, the front holds the oldest loads, the first to
        expire (a slow load may sit behind a younger one: it goes when it reaches the front)."""
        values = self._values
        values.pop(key, None)
        values[key] = (expiry, value)
        now = time.monotonic()
        while len(values) > self._max_entries or next(iter(values.values()))[0] <= now:
            del values[next(iter(values))]
            if not values:
                return

    def _done(self, key: K, task: asyncio.Future[V]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if not isinstance(exc, ClientError):  # an unknown key is its callers' answer
            self._log.warning("loading %s %s failed: %s", self._name, key, exc)
