"""OpenTelemetry traces with an in-memory exporter: one API change gives a trace in which the
delivery attempts of its event (three: two failures, then a success) are spans of that trace,
each linked to the request's span; with the endpoint's ``traceparent`` on, the receiver sees
the attempt's span in the header, and without it no header. Events from ingest and from the
sweeper join their request's and their sweep's trace the same way, through the event row's
``trace_context``. Tracing off (the default) sends no header and stores no context.
(Across processes: ``tests/e2e/test_tracing_processes.py``.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.support.apps import api_client
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.receivers import Received, receiver

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.domain.stuck import DEFAULT_SLAS
from rampwire.repository.stuck_orders import StuckOrderRepository
from rampwire.services.sweeper import Sweeper
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.tracing import Tracing
from rampwire.types import utcnow


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


@pytest.fixture
async def traced(
    settings: Settings, db: Database, tracing: Tracing
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings, db, tracing=tracing) as client:
        yield client
    tracing.shutdown()


async def _settled(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(20):
        while True:
            data = (await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")).json()["data"]
            if data and all(d["status"] in ("succeeded", "dead") for d in data):
                return data  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


def _attempts(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == "webhook attempt"]


async def test_a_change_and_its_three_attempts_are_one_trace(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    api = traced
    calls: list[Received] = []

    def flaky(got: Received) -> int:
        calls.append(got)
        return 503 if len(calls) <= 2 else 200

    async with receiver() as hooks:
        hooks.answer = flaky
        body = {
            "url": hooks.url,
            "event_types": ["order.completed"],
            "retry_policy": {"retry_delays": [0.05, 0.05], "jitter": 0.0},
            "traceparent": True,
        }
        endpoint = (await api.post("/v1/endpoints", json=body)).json()
        order = (await api.post("/v1/orders", json={"side": "buy"})).json()
        change = await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
        assert change.status_code == 200, change.text
        [delivery] = await _settled(api, endpoint["id"])
        async with asyncio.timeout(10):
            while len(_attempts(exporter)) < 3:
                await asyncio.sleep(0.02)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3

    [request] = [
        s for s in exporter.get_finished_spans() if s.name == "POST /v1/orders/{id}/changes"
    ]
    attempts = _attempts(exporter)
    assert len(attempts) == 3
    trace_id = request.context.trace_id
    for span in attempts:
        assert span.context.trace_id == trace_id  # one trace: request → attempts
        assert span.parent is not None and span.parent.span_id == request.context.span_id
        assert [link.context.span_id for link in span.links] == [request.context.span_id]
        assert span.attributes is not None
        assert span.attributes["delivery_id"] == delivery["id"]
    assert [s.attributes["status"] for s in attempts if s.attributes] == [
        "retrying",
        "retrying",
        "succeeded",
    ]
    # the receiver saw each attempt's own span in traceparent
    sent = [r.headers["traceparent"] for r in calls]
    expected = [
        f"00-{trace_id:032x}-{s.context.span_id:016x}-{int(s.context.trace_flags):02x}"
        for s in attempts
    ]
    assert sent == expected


async def _origin(exporter: InMemorySpanExporter, name: str) -> tuple[ReadableSpan, ReadableSpan]:
    """The one span called ``name`` and the one attempt span, once both have ended."""
    async with asyncio.timeout(10):
        while not _attempts(exporter):
            await asyncio.sleep(0.02)
    [origin] = [s for s in exporter.get_finished_spans() if s.name == name]
    [attempt] = _attempts(exporter)
    return origin, attempt


def _joins(attempt: ReadableSpan, origin: ReadableSpan) -> bool:
    """The attempt is in the origin's trace, its child, and linked to it."""
    return (
        attempt.context.trace_id == origin.context.trace_id
        and attempt.parent is not None
        and attempt.parent.span_id == origin.context.span_id
        and [link.context.span_id for link in attempt.links] == [origin.context.span_id]
    )


async def test_without_the_endpoints_traceparent_no_header_is_sent(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    async with receiver() as hooks:
        body = {"url": hooks.url, "event_types": ["order.created"]}
        endpoint = (await traced.post("/v1/endpoints", json=body)).json()
        assert endpoint["traceparent"] is False
        assert (await traced.post("/v1/orders", json={"side": "buy"})).status_code == 201
        [got] = await hooks.wait_for(1)
        origin, attempt = await _origin(exporter, "POST /v1/orders")
    assert "traceparent" not in {k.lower() for k in got.headers}
    assert _joins(attempt, origin)  # traced all the same


async def test_an_ingested_webhooks_deliveries_join_the_ingest_requests_trace(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    async with receiver() as hooks:
        body = {"url": hooks.url, "event_types": ["order.created"], "traceparent": True}
        assert (await traced.post("/v1/endpoints", json=body)).status_code == 201
        source = await make_source(traced, Provider.REVOLUT)
        order = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=utcnow())
        request = webhook(Provider.REVOLUT, order, OrderStatus.CREATED, now=utcnow())
        answer = await send(traced, source["id"], request)
        assert answer.json()["outcome"] == "applied", answer.text
        [got] = await hooks.wait_for(1)
        origin, attempt = await _origin(exporter, "POST /ingest")
    assert _joins(attempt, origin)
    assert got.headers["traceparent"].split("-")[2] == f"{attempt.context.span_id:016x}"


async def test_a_stuck_orders_deliveries_join_the_sweeps_trace(
    traced: httpx.AsyncClient, db: Database, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    async with receiver() as hooks:
        body = {"url": hooks.url, "event_types": ["order.stuck"]}
        assert (await traced.post("/v1/endpoints", json=body)).status_code == 201
        since = (utcnow() - timedelta(hours=5)).isoformat()
        order = {"side": "buy", "status": "awaiting_payment", "occurred_at": since}
        assert (await traced.post("/v1/orders", json=order)).status_code == 201
        sweeper = Sweeper(StuckOrderRepository(db), DEFAULT_SLAS, tracing=tracing)
        assert await sweeper.sweep() == 1
        await hooks.wait_for(1, timeout=30)  # the app's worker polls: no wake-up from here
        origin, attempt = await _origin(exporter, "sweep stuck orders")
    assert origin.parent is None  # a root: a sweep is nobody's child
    assert origin.attributes is not None and origin.attributes["flagged"] == 1
    assert _joins(attempt, origin)


async def test_no_traceparent_and_no_stored_context_when_tracing_is_off(
    api: httpx.AsyncClient, db: Database
) -> None:
    async with receiver() as hooks:
        body = {"url": hooks.url, "event_types": ["order.created"], "traceparent": True}
        assert (await api.post("/v1/endpoints", json=body)).status_code == 201
        assert (await api.post("/v1/orders", json={"side": "buy"})).status_code == 201
        [got] = await hooks.wait_for(1)
    assert "traceparent" not in {k.lower() for k in got.headers}
    async with db.connection() as conn:
        stored = await conn.fetch("SELECT trace_context FROM events")
    assert [row["trace_context"] for row in stored] == [None]


async def test_the_stored_context_is_the_requests_span(
    traced: httpx.AsyncClient, db: Database, exporter: InMemorySpanExporter
) -> None:
    assert (await traced.post("/v1/orders", json={"side": "buy"})).status_code == 201
    [request] = [s for s in exporter.get_finished_spans() if s.name == "POST /v1/orders"]
    async with db.connection() as conn:
        stored = await conn.fetchval("SELECT trace_context FROM events")
    version, trace_id, span_id, _ = stored.split("-")
    assert (version, trace_id, span_id) == (
        "00",
        f"{request.context.trace_id:032x}",
        f"{request.context.span_id:016x}",
    )


async def test_the_traceparent_option_is_set_read_and_checked(traced: httpx.AsyncClient) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "traceparent": "sometimes"}
    answer = await traced.post("/v1/endpoints", json=body)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "traceparent", answer.text
    assert (await traced.get("/v1/endpoints")).json()["data"] == []  # nothing written
    created = (await traced.post("/v1/endpoints", json={**body, "traceparent": True})).json()
    assert created["traceparent"] is True
    path = f"/v1/endpoints/{created['id']}"
    assert (await traced.patch(path, json={"traceparent": None})).status_code == 422
    assert (await traced.patch(path, json={"traceparent": False})).json()["traceparent"] is False
    assert (await traced.get(path)).json()["traceparent"] is False
