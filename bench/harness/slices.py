"""Alternation inside one run: a switch flipped in a live process, a slice of time each way.

Separate windows (:mod:`.paired`'s rounds) each build their own worker or server, and each
starts its own publisher, backlog and batching: on SQLite two identical sustained windows
differed by 6.4 % (an A/A of 12 rounds, docs/benchmarks.md), twice the 3 % being judged. A
variant that is one flag on the hot path (metrics counted or not) can instead be flipped in
the running process every ``slice_s`` seconds. Both ways then share the process, its caches
and connections, the database at the same size and the machine's load of the same few
seconds; a run of 2 x N slices gives N pairs.

The order within a pair is drawn, two pairs at a time: off-on then on-off, or the reverse
(seeded, so a run can be repeated). Each two pairs still cancel a drift, as :mod:`.paired`'s
strict alternation does, and a system that swings with a period of a few slices (a publisher
filling a bounded backlog, a checkpoint) cannot lock onto one variant, as it can onto
off-on-on-off-off-on-on-off.

What a slice measures is read around it by ``read``: cumulative figures (a count of
deliveries, CPU seconds), each slice keeping the readings at its two ends; the caller turns
them into rates. Readings with the wall clock ``t`` (``time.perf_counter``, the system's
monotonic clock, so a child process's timestamps fall in the same slices).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .paired import Paired

Reading = dict[str, float]


@dataclass(frozen=True)
class Slice:
    on: bool
    pair: int
    begin: Reading  # the readings when the slice began, "t" among them
    end: Reading

    def delta(self, key: str) -> float:
        return self.end[key] - self.begin[key]

    @property
    def seconds(self) -> float:
        return self.delta("t")


def orders(pairs: int, seed: int = 0) -> list[bool]:
    """Per pair, whether off goes first: two pairs at a time, (True, False) or (False, True)."""
    draw = random.Random(seed)
    found: list[bool] = []
    while len(found) < pairs:
        found += [True, False] if draw.random() < 0.5 else [False, True]
    return found[:pairs]


async def alternate(
    switch: Callable[[bool], None],
    read: Callable[[], Reading],
    *,
    pairs: int,
    slice_s: float,
    seed: int = 0,
) -> list[Slice]:
    """``pairs`` pairs of slices, ``switch(on)`` before each; ``read()`` at each slice's ends
    (the wall clock ``t`` added)."""
    slices: list[Slice] = []
    for pair, off_first in enumerate(orders(pairs, seed)):
        for on in (False, True) if off_first else (True, False):
            switch(on)
            begin = read() | {"t": time.perf_counter()}
            await asyncio.sleep(slice_s)
            slices.append(Slice(on, pair, begin, read() | {"t": time.perf_counter()}))
    return slices


def paired(
    slices: list[Slice], figure: Callable[[Slice], float], *, higher_is_worse: bool
) -> Paired:
    """The pairs' off/on costs of ``figure`` (a rate, or CPU per item: ``higher_is_worse``)."""
    off = [figure(s) for s in slices if not s.on]
    on = [figure(s) for s in slices if s.on]
    return Paired.of(off, on, higher_is_worse=higher_is_worse, off_first=began_off(slices))


def began_off(slices: list[Slice]) -> list[bool]:
    """Per pair, whether its off slice came first."""
    firsts: dict[int, bool] = {}
    for s in slices:
        firsts.setdefault(s.pair, not s.on)
    return [firsts[pair] for pair in sorted(firsts)]


__all__ = ["Slice", "alternate", "began_off", "orders", "paired"]
