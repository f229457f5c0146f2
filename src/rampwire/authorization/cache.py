"""A bounded, time-limited memory of recent decisions.

Entries expire after their TTL on the injected clock (monotonic seconds by default) and the least
recently used entry goes first when the cache is full. It lives in one process: each API process
keeps its own, which is fine for a cache of a few seconds' worth of answers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Final

from .decision import Decision

DEFAULT_CACHE_SIZE: Final = 10_000  # entries


class DecisionCache:
    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Decision]] = OrderedDict()

    def get(self, key: Hashable) -> Decision | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, decision = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return decision

    def put(self, key: Hashable, decision: Decision, ttl_seconds: float) -> None:
        """Remember ``decision`` for ``ttl_seconds``; a TTL of 0 or less stores nothing."""
        if ttl_seconds <= 0:
            return
        self._entries[key] = (self._clock() + ttl_seconds, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
