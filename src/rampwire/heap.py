"""A long-running process's heap: Python's cyclic garbage collector, and the pages glibc's
malloc keeps after a burst of work."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import cast

log = logging.getLogger("rampwire.heap")

# Allocations (net of frees) between two young-generation passes, and the passes of each
# generation between two of the next one's: a request's objects live for its batch's
# transaction, and at Python's (700, 10, 10) most were walked and promoted before they died
# (figures in docs/benchmarks.md).
THRESHOLDS = (20_000, 20, 20)
# How often a serving process hands the heap pages it freed back to the system: after a burst,
# glibc keeps them for reuse (measured in docs/benchmarks.md, "Memory under saturation").
TRIM_INTERVAL_S = 30.0


@contextmanager
def settled() -> Iterator[None]:
    """While open, what exists when it opens (modules, the app, pools, caches: about 100,000
    objects in ``rampwire serve``) is left out of the cyclic collector's passes, and the
    collector runs at :data:`THRESHOLDS`.

    Without the freeze, each full collection walks all of it with the event loop stopped, which
    was most of the ingest benchmark's p99 latency (docs/benchmarks.md). Reference counting
    still frees almost everything; on exit the collector takes the frozen
    objects back and its thresholds are restored."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, found among the process's own symbols; None where the C library
    has none (musl, macOS)."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


def trim() -> bool:
    """Return the free pages of malloc's heap to the system (``malloc_trim(0)``): the memory a
    burst of requests used and freed, which glibc otherwise keeps. False where there is no
    ``malloc_trim``."""
    release = _malloc_trim()
    if release is None:
        return False
    release(0)
    return True


async def keep_trimmed(stop: asyncio.Event, *, interval_s: float = TRIM_INTERVAL_S) -> None:
    """:func:`trim` every ``interval_s`` until ``stop`` is set, in a thread: ctypes lets go of
    the GIL, so the event loop runs on while glibc walks its free lists."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
        if stop.is_set():
            return
        if not await asyncio.to_thread(trim):
            log.debug("no malloc_trim in this C library: freed heap pages stay with it")
            await stop.wait()  # nothing to do, but a supervised task runs until it is stopped
            return
