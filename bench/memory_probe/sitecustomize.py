"""What a ``rampwire serve`` process holds, asked for from outside while it runs. Loaded by
bench/memory.py into the server it starts with ``--probe`` (``PYTHONPATH=bench/memory_probe``);
it changes nothing the server does but add one daemon thread.

The thread waits for a command in ``$BENCH_PROBE_DIR/request`` and answers in
``$BENCH_PROBE_DIR/response`` (JSON):

- ``report``: RSS, glibc's ``mallinfo2`` (bytes in use and free inside the heap), SQLite's own
  allocations, the live objects by type (``gc.get_objects``), the sizes of the process's caches,
  and with ``BENCH_TRACEMALLOC=1`` (tracing from start-up, costly) the Python allocations by line,
  against the previous report;
- ``trim``: ``malloc_trim(0)``, with RSS before and after (is the growth freed memory glibc kept?).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

_DIR = os.environ.get("BENCH_PROBE_DIR", "")
_SERVER = bool(_DIR) and "serve" in sys.argv
_previous: list[tracemalloc.Snapshot] = []
# The app's objects are made before ``heap.settled()`` freezes them, and frozen objects are not
# in ``gc.get_objects()``: the probe remembers the instances it wants to measure as they are made.
_made: list[weakref.ref[Any]] = []
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def rss_kib() -> dict[str, int]:
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _mallinfo() -> dict[str, int]:
    try:
        mallinfo2 = _libc.mallinfo2
    except AttributeError:  # glibc before 2.33
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {
        "heap_bytes": info.arena + info.hblkhd,  # from the system: main + thread arenas, mmaps
        "in_use_bytes": info.uordblks + info.hblkhd,
        "free_in_heap_bytes": info.fordblks,  # freed by Python/C, kept by glibc
    }


def _sqlite_memory() -> int | None:
    import sqlite3  # noqa: F401 - loads the library the server uses

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    except OSError:
        return None
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


def _remember() -> None:
    from rampwire.authorization.cache import DecisionCache
    from rampwire.cache import Loaded
    from rampwire.repository.signing_keys import SigningKeyRepository
    from rampwire.services.ingestor import Ingestor
    from rampwire.services.worker import Worker
    from rampwire.ssrf import WireClient
    from rampwire.storage.postgres import PostgresDatabase

    for cls in (
        DecisionCache,
        Loaded,
        WireClient,
        Worker,
        Ingestor,
        SigningKeyRepository,
        PostgresDatabase,
    ):
        init = cls.__init__

        def remembering(self: Any, *args: Any, __init: Any = init, **kwargs: Any) -> None:
            __init(self, *args, **kwargs)
            _made.append(weakref.ref(self))

        cls.__init__ = remembering  # type: ignore[method-assign]


def _caches() -> dict[str, Any]:
    """The sizes of the caches rampwire and its libraries keep."""
    from rampwire.storage import database, sqlite

    found: dict[str, Any] = {}
    memo = sqlite._convert.__defaults__[0] if sqlite._convert.__defaults__ else {}
    found["sqlite._convert"] = {
        "entries": len(memo),
        "chars": sum(len(k) + len(v) for k, v in memo.items()),
    }
    info = database._rows_clause.cache_info()
    found["database.rows_clause"] = {"entries": info.currsize, "max": info.maxsize}
    for ref in _made:
        obj = ref()
        name = type(obj).__name__
        if obj is None:
            continue
        if name == "Loaded":
            found.setdefault("Loaded", []).append(
                {"name": obj._name, "values": len(obj._values), "loading": len(obj._loading)}
            )
        elif name == "Worker":
            found["Worker scheduler lanes"] = len(obj._scheduler._lanes)
        elif name == "WireClient":
            found.setdefault("WireClient", []).append(
                {
                    "routes": len(obj._routes),
                    "names": len(obj._names),
                    "idle": obj._idle_count,
                    "lookups": len(obj._lookups),
                }
            )
        elif name == "DecisionCache":
            found.setdefault("DecisionCache", []).append(len(obj))
        elif name == "Ingestor":
            found["Ingestor.stats"] = len(obj.stats)
        elif name == "SigningKeyRepository":
            found.setdefault("SigningKeyRepository._loaded", []).append(len(obj._loaded))
        elif name == "PostgresDatabase" and obj._pool is not None:
            found.setdefault("asyncpg statement caches", []).extend(
                len(holder._con._stmt_cache) for holder in obj._pool._holders if holder._con
            )
    return found


def report() -> dict[str, Any]:
    gc.collect()
    objects = gc.get_objects()
    counts = collections.Counter(type(obj).__qualname__ for obj in objects)
    answer: dict[str, Any] = {
        "rss_kib": rss_kib(),
        "malloc": _mallinfo(),
        "sqlite_memory_used": _sqlite_memory(),
        "gc_objects": len(objects),
        "types": counts.most_common(25),
        "caches": _caches(),
    }
    del objects
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        answer["traced_bytes"] = tracemalloc.get_traced_memory()[0]
        if _previous:
            top = snapshot.compare_to(_previous[0], "lineno")[:20]
            answer["traced_growth"] = [str(stat) for stat in top]
        else:
            answer["traced_top"] = [str(stat) for stat in snapshot.statistics("lineno")[:20]]
        _previous[:] = [snapshot]
    return answer


def trim() -> dict[str, Any]:
    before = rss_kib()
    freed = int(_libc.malloc_trim(0))
    return {"before_kib": before, "after_kib": rss_kib(), "released": freed}


def _serve() -> None:
    request = Path(_DIR) / "request"
    response = Path(_DIR) / "response"
    while True:
        time.sleep(0.1)
        try:
            command = request.read_text().strip()
        except OSError:
            continue
        request.unlink()
        answer = report() if command == "report" else trim() if command == "trim" else {}
        partial = response.with_suffix(".part")
        partial.write_text(json.dumps(answer, default=str))
        partial.rename(response)


if _SERVER:
    _remember()
    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start(1)
    threading.Thread(target=_serve, name="bench-memory-probe", daemon=True).start()
