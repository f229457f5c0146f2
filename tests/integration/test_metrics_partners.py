"""Per-partner counters (``RAMPWIRE_METRICS_PARTNER_LABELS``), scraped and parsed as Prometheus
would: a named partner has its own value, any other partner counts as ``other``, the operator's
orders as ``operator``; exact values after a scripted scenario. ``top:N`` names the partners
with the most orders when the process starts. Without the setting the counters do not exist."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from rampwire.errors import ConfigError
from rampwire.metrics import Metrics, PartnerLabels
from rampwire.repository.partners import PartnerRepository
from rampwire.services.telemetry import rank_partners
from rampwire.settings import Secret, Settings
from rampwire.storage import Database
from rampwire.types import utcnow

TOKEN = "scrape-token-0123456789"
DELIVERIES = "rampwire_partner_deliveries_total"
INGEST = "rampwire_partner_ingest_requests_total"


@asynccontextmanager
async def _app(
    settings: Settings, db: Database, labels: PartnerLabels | None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings.replace(metrics_token=Secret(TOKEN), metrics_partner_labels=labels)
    async with api_client(settings, db, Scope.ADMIN) as api:
        yield api


async def _scraped(api: httpx.AsyncClient, wanted: int) -> Samples:
    """Scrape until ``wanted`` attempts are counted over every partner value."""
    async with asyncio.timeout(20):
        while True:
            samples = await scrape(api, TOKEN)
            if sum(v for (name, _), v in samples.items() if name == DELIVERIES) >= wanted:
                return samples
            await asyncio.sleep(0.05)


async def test_named_other_and_operator_values_count_exactly(
    settings: Settings, db: Database
) -> None:
    partners = PartnerRepository(db)
    named = await partners.create(name="Named", metadata={}, now=utcnow())
    other = await partners.create(name="Other", metadata={}, now=utcnow())
    labels = PartnerLabels.parse(named.id)
    async with _app(settings, db, labels) as api:
        source = await make_source(api, Provider.REVOLUT, partner_id=other.id)
        failed: list[bytes] = []

        def fails_once(got: Received) -> int:
            """The named partner's first order fails once: one retry, counted as its own."""
            if first["id"].encode() in got.body and not failed:
                failed.append(got.body)
                return 503
            return 200

        first = (await api.post("/v1/orders", json={"side": "buy", "partner_id": named.id})).json()
        async with receiver() as hooks:
            hooks.answer = fails_once
            body: dict[str, Any] = {
                "url": hooks.url,
                "event_types": ["order.created", "order.processing"],
                "partners": ["*"],  # the operator's endpoint gets every partner's orders
                "retry_policy": {"retry_delays": [0.05], "jitter": 0.0},
            }
            assert (await api.post("/v1/endpoints", json=body)).status_code == 201
            change = await api.post(
                f"/v1/orders/{first['id']}/changes", json={"status": "processing"}
            )
            assert change.status_code == 200, change.text
            for owner in (named.id, other.id, None):
                order = {"side": "buy", "partner_id": owner} if owner else {"side": "buy"}
                assert (await api.post("/v1/orders", json=order)).status_code == 201
            now = utcnow()
            sold = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
            request = webhook(Provider.REVOLUT, sold, OrderStatus.CREATED, now=now)
            assert (await send(api, source["id"], request)).status_code == 200
            assert (await send(api, source["id"], request)).status_code == 200  # duplicate
            forged = await api.post(
                f"/ingest/{source['id']}", content=request.body + b" ", headers=request.headers
            )
            assert forged.status_code == 401
            samples = await _scraped(api, 6)  # 5 deliveries, the first one tried twice

    # the named partner's first order's delivery (its change) was retried once, then delivered
    assert value(samples, DELIVERIES, partner=named.id, outcome="retrying") == 1
    assert value(samples, DELIVERIES, partner=named.id, outcome="delivered") == 2
    assert value(samples, DELIVERIES, partner="other", outcome="delivered") == 2  # API + ingest
    assert value(samples, DELIVERIES, partner="operator", outcome="delivered") == 1
    partner_values = {dict(k)["partner"] for (name, k) in samples if name == DELIVERIES}
    assert partner_values == {named.id, "other", "operator"}  # the other id is no value
    assert value(samples, INGEST, partner="other", outcome="applied") == 1
    assert value(samples, INGEST, partner="other", outcome="duplicate") == 1
    assert value(samples, INGEST, partner="other", outcome="refused") == 1
    assert {dict(k)["partner"] for (name, k) in samples if name == INGEST} == {"other"}

    # top:1 ranks by orders: the named partner has two, the other one
    metrics = Metrics(partners=PartnerLabels.parse("top:1"))
    await rank_partners(db, metrics)
    assert metrics.partners is not None
    assert metrics.partners.named == {named.id}


async def test_without_the_setting_there_are_no_partner_counters(
    settings: Settings, db: Database
) -> None:
    async with _app(settings, db, None) as api:
        assert (await api.post("/v1/orders", json={"side": "buy"})).status_code == 201
        samples = await scrape(api, TOKEN)
    assert not [name for name, _ in samples if name.startswith("rampwire_partner_")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("top:0", "top:N takes N from 1 to 100, not 0"),
        ("top:x", "'top:x' is neither top:N nor a partner id (ptn_...)"),
        ("ptn_0123456789,acme", "'acme' is neither top:N nor a partner id (ptn_...)"),
    ],
)
def test_a_bad_setting_says_what_is_wrong(text: str, message: str, tmp_path: Any) -> None:
    env = {"RAMPWIRE_DATA_DIR": str(tmp_path), "RAMPWIRE_METRICS_PARTNER_LABELS": text}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == f"RAMPWIRE_METRICS_PARTNER_LABELS: {message}"
