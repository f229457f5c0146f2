"""A PostgreSQL outage, through a TCP proxy the test controls: the API answers 503 with
Retry-After (never 500), /readyz says the database is down, the worker waits it out, and
everything acknowledged before, during and after is delivered once the database is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.apps import in_process
from tests.support.proxy import TcpProxy
from tests.support.receivers import receiver

from rampwire.api import create_app
from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.services.worker import WorkerOptions
from rampwire.settings import Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import open_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    running = TcpProxy("127.0.0.1", 5432)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def _down(proxy: TcpProxy) -> None:
    await proxy.refuse()
    await proxy.cut()


async def _until_ready(api: httpx.AsyncClient) -> httpx.Response:
    async with asyncio.timeout(30):
        while (ready := await api.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.1)
    return ready


async def test_an_outage_answers_503_and_loses_nothing(
    postgres_url: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    through = postgres_url.replace(":5432/", f":{proxy.port}/")
    direct = open_database(postgres_url)
    await direct.open()
    _, token = await KeyRepository(direct).create("tests", Scope.WRITE)
    await direct.close()
    settings = Settings(
        database_url=through, data_dir=tmp_path, target_policy=TargetPolicy(allow_private=True)
    )
    app = create_app(settings, worker_options=WorkerOptions(poll_interval_s=0.2))
    async with receiver() as hooks, in_process(app, token) as api:
        made = await api.post("/v1/endpoints", json={"url": hooks.url})
        assert made.status_code == 201, made.text
        acknowledged = [(await api.post("/v1/orders", json={"side": "buy"})).json()["id"]]
        await hooks.wait_for(1)

        await _down(proxy)
        refused = await api.post("/v1/orders", json={"side": "buy"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"].isdigit()
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["type"].endswith(":database_unavailable")
        assert "Traceback" not in refused.text
        ready = await api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unavailable")
        assert "database" in ready.json()["detail"]
        async with asyncio.timeout(20):  # the worker notices, and keeps running
            while app.state.rampwire.worker.health()["claims"] == "ok":
                await asyncio.sleep(0.05)
        await asyncio.sleep(2)  # several failed claims and renewals

        await proxy.restore()
        ready = await _until_ready(api)
        assert ready.json()["checks"]["task:worker"] == "running"
        assert app.state.rampwire.supervisor.health["worker"].failures == 0
        for _ in range(5):
            created = await api.post("/v1/orders", json={"side": "buy"})
            assert created.status_code == 201, created.text
            acknowledged.append(created.json()["id"])
        await hooks.wait_for(len(acknowledged))
        delivered = {json.loads(r.body)["data"]["order"]["id"] for r in hooks.requests}
        assert delivered == set(acknowledged)
        async with asyncio.timeout(20):
            while app.state.rampwire.worker.health()["claims"] != "ok":
                await asyncio.sleep(0.05)


async def test_a_stalled_database_is_not_ready_within_its_bound(
    postgres_url: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    through = postgres_url.replace(":5432/", f":{proxy.port}/")
    settings = Settings(database_url=through, data_dir=tmp_path, run_worker=False)
    async with in_process(create_app(settings)) as api:
        assert (await api.get("/readyz")).status_code == 200
        await proxy.stall()
        stalled = await api.get("/readyz")
        assert stalled.status_code == 503
        assert stalled.json()["checks"]["database"] == "unavailable: no answer"
        await proxy.restore()
        await _until_ready(api)
