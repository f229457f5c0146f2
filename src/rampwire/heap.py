"""A long-running process's heap and Python's cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def settled() -> Iterator[None]:
    """While open, what exists when it opens (modules, the app, pools, caches: about 100,000
    objects in ``rampwire serve``) is left out of the cyclic collector's passes.

    Without it, each full collection walked all of it with the event loop stopped: 11 of them
    in 25 s of the ingest benchmark, up to 75 ms each, which was most of its p99 latency.
    Reference counting still frees these objects; on exit the collector takes them back."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
