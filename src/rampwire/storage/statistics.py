"""Planner statistics for a new PostgreSQL database, until autovacuum takes over.

After five executions of a prepared statement PostgreSQL may switch to a generic plan, which
it keeps until the statistics of a table it reads change. On a new database autovacuum's first
``ANALYZE`` comes a minute or more after the first rows: a plan cached while ``deliveries`` was
nearly empty (a sequential scan) stays while the table grows to thousands of rows (the
worker's claim, traced in docs/benchmarks.md). :func:`keep` analyzes such
tables as soon as they hold a few pages, which also drops the plans cached before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..errors import StorageError
from .database import Database

log = logging.getLogger("rampwire.statistics")

INTERVAL_S = 5.0


async def keep(db: Database, stop: asyncio.Event, *, interval_s: float = INTERVAL_S) -> None:
    """Every ``interval_s`` until ``stop``: :meth:`Database.analyze_new_tables`. Once autovacuum
    has analyzed the tables, each pass is one catalog query that finds nothing."""
    while not stop.is_set():
        try:
            analyzed = await db.analyze_new_tables()
        except StorageError as exc:
            log.warning("could not check the tables' statistics: %s", exc)
        else:
            if analyzed:
                log.info("analyzed tables without statistics: %s", ", ".join(analyzed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
