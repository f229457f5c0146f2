"""``/metrics`` after a scripted scenario, scraped and parsed as Prometheus would: deliveries
that succeed, retry and die; inbound requests applied, duplicated and forged; each counter's
exact value. And the route's protection: 404 without a token configured, 401 without it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.support.apps import api_client
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.receivers import Received, receiver
from tests.support.scrape import Samples, scrape, value

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.settings import Secret, Settings
from rampwire.storage import Database
from rampwire.types import utcnow

TOKEN = "scrape-token-0123456789"
FAST = {"retry_delays": [0.05, 0.05], "jitter": 0.0}  # three attempts, then dead


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings.replace(metrics_token=Secret(TOKEN)), db, Scope.ADMIN) as api:
        yield api


async def _endpoint(api: httpx.AsyncClient, url: str) -> dict[str, Any]:
    body = {"url": url, "event_types": ["order.created"], "retry_policy": FAST}
    response = await api.post("/v1/endpoints", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _final(api: httpx.AsyncClient, endpoint_ids: list[str]) -> None:
    """Until every delivery of these endpoints is final."""
    async with asyncio.timeout(20):
        for endpoint_id in endpoint_ids:
            while True:
                url = f"/v1/endpoints/{endpoint_id}/deliveries"
                data = (await api.get(url)).json()["data"]
                if data and all(d["status"] in ("succeeded", "dead") for d in data):
                    break
                await asyncio.sleep(0.05)


async def _until(api: httpx.AsyncClient, name: str, wanted: float, **labels: str) -> Samples:
    """Scrape until a counter reaches ``wanted`` (a result is counted when it is sent, and
    recorded a moment later)."""
    async with asyncio.timeout(20):
        while True:
            samples = await scrape(api, TOKEN)
            if value(samples, name, **labels) >= wanted:
                return samples
            await asyncio.sleep(0.05)


async def test_a_scripted_scenario_scrapes_to_exact_counts(client: httpx.AsyncClient) -> None:
    api = client
    # Ingest first, while no endpoint exists: its events fan out to nobody.
    source = await make_source(api, Provider.REVOLUT)
    now = utcnow()
    order = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
    request = webhook(Provider.REVOLUT, order, OrderStatus.PROCESSING, now=now)
    assert (await send(api, source["id"], request)).status_code == 200
    assert (await send(api, source["id"], request)).status_code == 200  # a duplicate
    forged = await api.post(
        f"/ingest/{source['id']}", content=request.body + b" ", headers=request.headers
    )
    assert forged.status_code == 401, forged.text

    flaky_calls: list[Received] = []

    def flaky(got: Received) -> int:
        flaky_calls.append(got)
        return 503 if len(flaky_calls) <= 2 else 200

    async with receiver() as ok, receiver() as retried, receiver() as dead:
        retried.answer = flaky
        dead.answer = lambda _: 503
        endpoints = [await _endpoint(api, r.url) for r in (ok, retried, dead)]
        created = await api.post("/v1/orders", json={"side": "buy"})
        assert created.status_code == 201, created.text
        await _final(api, [e["id"] for e in endpoints])
    samples = await _until(api, "rampwire_deliveries_total", 1, outcome="dead", dialect="standard")

    def deliveries(outcome: str) -> float:
        return value(samples, "rampwire_deliveries_total", outcome=outcome, dialect="standard")

    assert (deliveries("delivered"), deliveries("retrying"), deliveries("dead")) == (2, 4, 1)
    assert deliveries("unencodable") == 0
    attempts = "rampwire_delivery_attempts_total"
    assert value(samples, attempts, error_class="none") == 2
    assert value(samples, attempts, error_class="http_status") == 5
    latency = "rampwire_delivery_attempt_seconds_count"
    assert value(samples, latency, dialect="standard") == 7

    ingest = "rampwire_ingest_requests_total"
    src = source["id"]
    assert value(samples, ingest, source=src, outcome="applied", reason="") == 1
    assert value(samples, ingest, source=src, outcome="duplicate", reason="") == 1
    refused = {"source": src, "outcome": "refused", "reason": "webhook_verification_failed"}
    assert value(samples, ingest, **refused) == 1
    assert value(samples, "rampwire_ingest_verification_seconds_count", provider="revolut") == 3

    # One order created through the API, one provider order through ingest: two transactions
    # at least (group commit may share none here: they were sequential).
    batches = "rampwire_group_commit_batch_size_count"
    assert value(samples, batches, writer="order_creates") == 1
    assert value(samples, batches, writer="ingest") == 2  # the applied one and the duplicate
    assert value(samples, batches, writer="delivery_results") >= 1
    assert value(samples, "rampwire_deliveries_due") == 0
    assert value(samples, "rampwire_deliveries_fifo_blocked") == 0


async def test_metrics_need_the_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")  # the API key is not the metrics token
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "RAMPWIRE_METRICS_TOKEN" in response.json()["detail"]


async def test_without_a_token_there_is_no_metrics_route(api: httpx.AsyncClient) -> None:
    response = await api.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
