"""A long-running process's heap and Python's cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations (net of frees) between two young-generation passes, and the passes of each
# generation between two of the next one's. Python's default, (700, 10, 10), ran a young pass
# every 0.3 ms of ingest work; a request's objects live for tens of milliseconds (its batch's
# transaction), so most of them were walked several times and promoted before they died.
THRESHOLDS = (20_000, 20, 20)


@contextmanager
def settled() -> Iterator[None]:
    """While open, what exists when it opens (modules, the app, pools, caches: about 100,000
    objects in ``rampwire serve``) is left out of the cyclic collector's passes, and the
    collector runs at :data:`THRESHOLDS`.

    Without the freeze, each full collection walked all of it with the event loop stopped: 11
    of them in 25 s of the ingest benchmark, up to 75 ms each, which was most of its p99
    latency. With Python's default thresholds, the collector still took 850 ms of the server's
    CPU in 25 s of that benchmark (1,160 passes); at these, about 100 ms, mostly at startup.
    Reference counting still frees almost everything; on exit the collector takes the frozen
    objects back and its thresholds are restored."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
