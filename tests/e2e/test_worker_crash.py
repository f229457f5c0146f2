"""Crashes and many workers, with the real CLI as subprocesses and a real receiver on 127.0.0.1:
a delivery committed before a SIGKILL still goes out after a restart, a dead worker's expired
lease is claimed again, and three workers on one PostgreSQL send each delivery exactly once."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from tests.support.apps import api_client
from tests.support.processes import environment, free_port, processes
from tests.support.receivers import receiver

from rampwire.domain.deliveries import Attempt, DeliveryStatus, ErrorClass, Result
from rampwire.repository.deliveries import DeliveryRepository
from rampwire.settings import Secret, Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database, migrate, open_database
from rampwire.types import utcnow

RAMPWIRE = [sys.executable, "-m", "rampwire"]
MASTER_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()  # shared by every process
DELIVER_S = 60.0  # for the deliveries to arrive


async def run_cli(env: dict[str, str], *args: str) -> str:
    done = await asyncio.to_thread(
        subprocess.run, [*RAMPWIRE, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    db = open_database(url)
    await db.open()
    try:
        await migrate(db)
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def local_api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process, with no worker: deliveries are queued and left to others."""
    async with api_client(settings.replace(run_worker=False), db) as client:
        yield client


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def delivery_rows(db: Database) -> list[tuple[str, str, int, str | None]]:
    """(event id, status, attempts, lease token) of every delivery."""
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT event_id, status, attempts, lease_token FROM deliveries ORDER BY id"
        )
    return [(r["event_id"], r["status"], r["attempts"], r["lease_token"]) for r in rows]


# --- (a) SIGKILL after the commit, before the send -------------------------------------------


async def test_a_delivery_committed_before_a_sigkill_goes_out_after_a_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = environment(data)
    token = (await run_cli(env, "keys", "create", "--name", "e2e")).split("\t")[2].strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as started:
        async with receiver() as hooks:
            # serve without a worker: the order commits its delivery, nothing sends it
            serve = started.start(
                "serve", {**env, "RAMPWIRE_SERVE_WORKER": "0"}, "serve", "--port", str(port)
            )
            await started.healthy(url, serve)
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {token}"}
            ) as client:
                endpoint = await post(
                    client, "/v1/endpoints", {"url": hooks.url, "event_types": ["order.created"]}
                )
                order = await post(client, "/v1/orders", {"side": "buy"})
            assert await started.stop(serve, signal.SIGKILL) == -signal.SIGKILL
            assert hooks.requests == []
            async with opened(f"sqlite:///{data / 'rampwire.db'}") as db:
                [(event_id, status, attempts, _)] = await delivery_rows(db)
            assert (status, attempts) == ("pending", 0)

            worker = started.start("worker", env, "worker")
            [got] = await hooks.wait_for(1, timeout=DELIVER_S)
            assert await started.stop(worker) == 0, started.log(worker)

    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["id"] == event_id == got.headers["webhook-id"]
    assert payload["type"] == "order.created"
    assert payload["data"]["order"]["id"] == order["id"]
    async with opened(f"sqlite:///{data / 'rampwire.db'}") as db:
        assert await delivery_rows(db) == [(event_id, "succeeded", 1, None)]
    assert len(hooks.requests) == 1


# --- (b) a dead worker's lease expires --------------------------------------------------------


async def test_deliveries_leased_by_a_dead_worker_are_sent_once_the_lease_expires(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    database_url = f"sqlite:///{data / 'rampwire.db'}"
    settings = Settings(
        database_url=database_url,
        data_dir=data,
        master_key=Secret(MASTER_KEY),
        target_policy=TargetPolicy(allow_private=True),
    )
    env = environment(data, RAMPWIRE_DATABASE_URL=database_url, RAMPWIRE_MASTER_KEY=MASTER_KEY)
    deliveries_made = 5
    with processes(tmp_path) as started:
        async with receiver() as hooks, opened(database_url) as db:
            async with local_api(settings, db) as client:
                endpoint = await post(
                    client, "/v1/endpoints", {"url": hooks.url, "event_types": ["order.created"]}
                )
                for _ in range(deliveries_made):
                    await post(client, "/v1/orders", {"side": "buy"})

            # a worker claims everything, then dies before sending or recording anything
            repo = DeliveryRepository(db)
            now = utcnow()
            lease = timedelta(seconds=0.2)
            held = await repo.claim(limit=100, lease=lease, token="lease_dead.1", now=now)
            assert len(held) == deliveries_made
            still_leased = now + timedelta(seconds=0.1)
            assert await repo.claim(limit=100, lease=lease, token="x", now=still_leased) == []
            assert {row[3] for row in await delivery_rows(db)} == {"lease_dead.1"}

            worker = started.start("worker", env, "worker")
            got = await hooks.wait_for(deliveries_made, timeout=DELIVER_S)
            assert await started.stop(worker) == 0, started.log(worker)

            verifier = Webhook(endpoint["secret"])
            sent = sorted(verifier.verify(r.body, r.headers)["id"] for r in got)
            assert sent == sorted(c.event_id for c in held)
            assert len(hooks.requests) == deliveries_made
            rows = await delivery_rows(db)
            assert {(status, attempts, lease) for _, status, attempts, lease in rows} == {
                ("succeeded", 1, None)
            }

            # the dead worker's result, were it to arrive late, cannot overwrite the new state
            await repo.record(
                [late_failure(c) for c in held], now=utcnow(), disable_after=timedelta(days=5)
            )
            assert await delivery_rows(db) == rows


def late_failure(claimed: Any) -> Result:
    now = utcnow()
    attempt = Attempt(
        id=f"att_late_{claimed.id}",
        delivery_id=claimed.id,
        attempt=claimed.attempts + 1,
        started_at=now,
        duration_us=1,
        request_url="http://127.0.0.1:9/hooks",
        request_headers={},
        request_body=None,
        response_status=None,
        response_headers=None,
        response_body=None,
        error_class=ErrorClass.TIMEOUT,
        error="timed out",
    )
    return Result(
        claimed=claimed,
        attempt=attempt,
        status=DeliveryStatus.DEAD,
        next_attempt_at=None,
        succeeded=False,
    )


# --- (c) three workers, one PostgreSQL ---------------------------------------------------------


@pytest.mark.postgres
async def test_three_workers_on_postgresql_send_each_delivery_exactly_once(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = Settings(
        database_url=postgres_url,
        data_dir=tmp_path,
        master_key=Secret(MASTER_KEY),
        target_policy=TargetPolicy(allow_private=True),
    )
    env = environment(tmp_path, RAMPWIRE_DATABASE_URL=postgres_url, RAMPWIRE_MASTER_KEY=MASTER_KEY)
    orders = 300
    with processes(tmp_path) as started:
        async with receiver() as hooks, opened(postgres_url) as db:
            workers = [started.start(f"worker-{n}", env, "worker") for n in range(3)]
            for worker in workers:
                await started.wait_for_line(worker, "worker started")
            async with local_api(settings, db) as client:
                endpoint = await post(
                    client, "/v1/endpoints", {"url": hooks.url, "event_types": ["order.created"]}
                )
                gate = asyncio.Semaphore(20)

                async def one_order() -> None:
                    async with gate:
                        await post(client, "/v1/orders", {"side": "buy"})

                await asyncio.gather(*(one_order() for _ in range(orders)))
            await hooks.wait_for(orders, timeout=DELIVER_S)
            async with asyncio.timeout(DELIVER_S):
                while any(row[1] != "succeeded" for row in await delivery_rows(db)):
                    await asyncio.sleep(0.1)
            for worker in workers:
                assert await started.stop(worker) == 0, started.log(worker)

            rows = await delivery_rows(db)
            async with db.connection() as conn:
                per_delivery = await conn.fetch(
                    "SELECT d.id, COUNT(a.id) AS n FROM deliveries d"
                    " LEFT JOIN attempts a ON a.delivery_id = d.id GROUP BY d.id"
                )

    assert len(rows) == orders
    assert {(status, attempts) for _, status, attempts, _ in rows} == {("succeeded", 1)}
    assert sorted(r["n"] for r in per_delivery) == [1] * orders
    seen = Counter(r.headers["webhook-id"] for r in hooks.requests)
    assert set(seen) == {event_id for event_id, *_ in rows}
    assert set(seen.values()) == {1}
    verifier = Webhook(endpoint["secret"])
    assert all(verifier.verify(r.body, r.headers) for r in hooks.requests)
