"""Metrics across processes: ``rampwire serve`` (with its worker) and two ``rampwire worker``
processes on one PostgreSQL, each scraped where it serves its metrics (serve: ``/metrics`` with
the token; each worker: its ``RAMPWIRE_METRICS_ADDR``). Summed, the scraped counters equal the
database's own counts of deliveries and attempts."""

from __future__ import annotations

import asyncio
import base64
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.processes import environment, free_port, processes
from tests.support.receivers import receiver
from tests.support.scrape import Samples, scrape

from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.storage import Database, migrate, open_database

MASTER_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()  # shared by every process
TOKEN = "scrape-token-0123456789"
ORDERS = 60
SETTLE_S = 60.0


def _totals(scrapes: list[Samples], name: str, label: str) -> Counter[str]:
    """A counter summed over every process, per value of one label."""
    found: Counter[str] = Counter()
    for samples in scrapes:
        for (sample, labels), value in samples.items():
            if sample == name:
                found[dict(labels)[label]] += int(value)
    return found


async def _database_counts(db: Database) -> tuple[Counter[str], Counter[str], int]:
    async with db.connection() as conn:
        statuses = await conn.fetch("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
        errors = await conn.fetch(
            "SELECT coalesce(error_class, 'none') AS c, count(*) AS n FROM attempts GROUP BY 1"
        )
        waiting = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'retrying')"
        )
    return (
        Counter({r["status"]: r["n"] for r in statuses}),
        Counter({r["c"]: r["n"] for r in errors}),
        int(waiting),
    )


@pytest.mark.postgres
async def test_scraped_totals_of_serve_and_two_workers_equal_the_database(
    tmp_path: Path, postgres_url: str
) -> None:
    env = environment(
        tmp_path,
        RAMPWIRE_DATABASE_URL=postgres_url,
        RAMPWIRE_MASTER_KEY=MASTER_KEY,
        RAMPWIRE_METRICS_TOKEN=TOKEN,
    )
    db = open_database(postgres_url)
    await db.open()
    try:
        await migrate(db)
        _, key = await KeyRepository(db).create("e2e", Scope.WRITE)
        port, worker_ports = free_port(), [free_port(), free_port()]
        url = f"http://127.0.0.1:{port}"
        with processes(tmp_path) as started:
            async with receiver() as ok, receiver() as failing:
                failing.answer = lambda _: 503
                serve = started.start("serve", env, "serve", "--port", str(port))
                workers = [
                    started.start(
                        f"worker-{n}",
                        {**env, "RAMPWIRE_METRICS_ADDR": f"127.0.0.1:{wport}"},
                        "worker",
                    )
                    for n, wport in enumerate(worker_ports)
                ]
                await started.healthy(url, serve)
                for worker in workers:
                    await started.wait_for_line(worker, "metrics on http://")
                async with httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {key}"}
                ) as client:
                    fast = {"retry_delays": [0.05, 0.05], "jitter": 0.0}
                    for hooks in (ok, failing):
                        body: dict[str, Any] = {
                            "url": hooks.url,
                            "event_types": ["order.created"],
                            "retry_policy": fast,
                        }
                        assert (await client.post("/v1/endpoints", json=body)).status_code == 201
                    for _ in range(ORDERS):
                        created = await client.post("/v1/orders", json={"side": "buy"})
                        assert created.status_code == 201, created.text
                    async with asyncio.timeout(SETTLE_S):
                        while (await _database_counts(db))[2]:
                            await asyncio.sleep(0.1)
                    statuses, errors, _ = await _database_counts(db)
                    scrapes = [await scrape(client, TOKEN, f"{url}/metrics")]
                    async with httpx.AsyncClient() as plain:
                        for wport in worker_ports:
                            scrapes.append(
                                await scrape(plain, None, f"http://127.0.0.1:{wport}/metrics")
                            )
                for worker in workers:
                    assert await started.stop(worker) == 0, started.log(worker)
                # uvicorn raises the signal again once it has shut down
                assert await started.stop(serve) in (0, -signal.SIGTERM), started.log(serve)
    finally:
        await db.close()

    assert statuses == Counter({"succeeded": ORDERS, "dead": ORDERS})
    outcomes = _totals(scrapes, "rampwire_deliveries_total", "outcome")
    assert outcomes["delivered"] == statuses["succeeded"]
    assert outcomes["dead"] == statuses["dead"]
    assert outcomes["retrying"] == sum(errors.values()) - ORDERS * 2  # all but the last attempts
    assert _totals(scrapes, "rampwire_delivery_attempts_total", "error_class") == errors
    # each process did a share of the work (the claim is shared across workers)
    assert sum(1 for s in scrapes if any(k[0] == "rampwire_deliveries_total" for k in s)) >= 2
