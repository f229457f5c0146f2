"""A target that passed the check when its endpoint was created but resolves to a forbidden
address at send time (DNS rebinding): every attempt is refused, and the delivery follows the
endpoint's retry ladder to dead like any other failure."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.apps import api_client
from tests.support.receivers import receiver

from rampwire.services.worker import WorkerOptions
from rampwire.settings import Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database

PUBLIC = "93.184.215.14"  # what the name resolves to at creation; never connected to
LADDER = {"retry_delays": [0.05, 0.05], "jitter": 0.0}


class Rebinding:
    """The event loop's ``getaddrinfo``: a public address until :attr:`rebound`, then 127.0.0.1."""

    def __init__(self) -> None:
        self.rebound = False
        self.lookups = 0

    async def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups += 1
        address = "127.0.0.1" if self.rebound else PUBLIC
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


@pytest.fixture
async def rebinding(monkeypatch: pytest.MonkeyPatch) -> Rebinding:
    """The resolver the API's check and the worker's client both ask."""
    resolver = Rebinding()
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
    return resolver


@pytest.fixture
async def strict_api(
    tmp_path: Path, database_url: str, db: Database, rebinding: Rebinding
) -> AsyncIterator[httpx.AsyncClient]:
    """The app under the default, strict target policy, its worker polling often."""
    settings = Settings(database_url=database_url, data_dir=tmp_path, target_policy=TargetPolicy())
    async with api_client(
        settings, db, worker_options=WorkerOptions(poll_interval_s=0.05)
    ) as client:
        yield client


async def _only_delivery(api: httpx.AsyncClient, endpoint_id: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            data = (await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")).json()["data"]
            if data and data[0]["status"] not in ("pending", "retrying"):
                return (await api.get(f"/v1/deliveries/{data[0]['id']}")).json()  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_a_name_rebound_to_loopback_follows_the_ladder_to_dead(
    strict_api: httpx.AsyncClient, rebinding: Rebinding
) -> None:
    async with receiver() as hooks:
        port = hooks.url.split(":")[2].split("/")[0]
        url = f"http://rebind.example:{port}/hooks"

        created = await strict_api.post(
            "/v1/endpoints",
            json={"url": url, "event_types": ["order.created"], "retry_policy": LADDER},
        )
        assert created.status_code == 201, created.text
        rebinding.rebound = True
        response = await strict_api.post("/v1/orders", json={"side": "buy"})
        assert response.status_code == 201, response.text
        delivery = await _only_delivery(strict_api, created.json()["id"])
    assert hooks.requests == []
    assert delivery["status"] == "dead"
    assert delivery["attempts"] == 3
    assert delivery["next_attempt_at"] is None
    log = delivery["attempt_log"]
    assert [a["error_class"] for a in log] == ["forbidden_target"] * 3
    assert all("127.0.0.1" in a["error"] for a in log)
    assert rebinding.lookups >= 2  # the API's check, then the worker's, at connect time
