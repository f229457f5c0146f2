"""The statements (round trips) per request of ``ingest_app.py``'s counted rounds, by statement:
asyncpg's ``execute``, ``executemany``, ``fetch``, ``fetchrow`` and ``fetchval`` counted while
the rounds run (not the warm-up). The same arguments as ``ingest_app.py`` (not ``--callgrind``):

    cd bench && RAMPWIRE_SERVE_WORKER=0 ../.venv/bin/python ingest_statements.py --tasks 2

Counts only: the times it prints with them are those of a run slowed by the counting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg.connection
import ingest_app

seen: Counter[str] = Counter()
counting = False


def counted(name: str) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(asyncpg.connection.Connection, name)

    async def run(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if counting:
            seen[query[:70]] += 1
        return await original(self, query, *args, **kwargs)

    setattr(asyncpg.connection.Connection, name, run)


async def measure(
    app: Any, state: Any, requests: list[Any], tasks: int, *args: Any, **kw: Any
) -> Any:
    global counting
    counting = not kw.get("quiet", False)
    seen.clear()
    try:
        return await _measure(app, state, requests, tasks, *args, **kw)
    finally:
        if counting:
            total = len(requests)
            print(f"statements per request: {sum(seen.values()) / total:.3f} ({total} requests)")
            for query, count in seen.most_common():
                print(f"  {count / total:7.3f}  {query}")
        counting = False


for method in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
    counted(method)
_measure = ingest_app.measure
ingest_app.measure = measure

if __name__ == "__main__":
    ingest_app.main()
