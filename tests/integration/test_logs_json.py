"""JSON logs, read back line by line: a retry and a dead delivery are WARNING lines with their
ids and the reason; a refused inbound request's line carries the request id (the caller's
``X-Request-Id``) and the source id, and so does an unexpected error's, whose 500 answer
carries it too; every line parses."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.support.apps import api_key, in_process
from tests.support.ingest_kit import make_source, webhook
from tests.support.receivers import receiver

from rampwire import logs
from rampwire.api import create_app
from rampwire.api.state import app_state
from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow


@pytest.fixture
def json_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What ``RAMPWIRE_LOG_FORMAT=json`` writes to stderr, for the test's length."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    logs.configure("json", "INFO")
    yield stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_retries_and_the_dead_delivery_are_warnings_with_their_ids(
    api: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    async with receiver() as hooks:
        hooks.answer = lambda _: 503
        body = {"url": hooks.url, "retry_policy": {"retry_delays": [0.05], "jitter": 0.0}}
        endpoint = (await api.post("/v1/endpoints", json=body)).json()
        await api.post("/v1/orders", json={"side": "buy"})
        async with asyncio.timeout(20):
            while not any("is dead" in line["message"] for line in _lines(json_log)):
                await asyncio.sleep(0.05)
    lines = _lines(json_log)
    about = [line for line in lines if line.get("endpoint_id") == endpoint["id"]]
    retry, dead = about[0], about[-1]
    [delivery] = (await api.get(f"/v1/endpoints/{endpoint['id']}/deliveries")).json()["data"]
    for line in (retry, dead):
        assert line["level"] == "warning" and line["logger"] == "rampwire.worker"
        assert line["delivery_id"] == delivery["id"]
        assert line["event_id"] == delivery["event_id"]
        assert line["error_class"] == "http_status"
        assert "503" in line["reason"]
    assert retry["attempt"] == 1 and "next_attempt_at" in retry
    assert dead["attempt"] == 2 and "is dead" in dead["message"]


async def test_a_refused_request_logs_its_request_and_source_ids(
    api: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    source = await make_source(api, Provider.REVOLUT)
    now = utcnow()
    order = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
    request = webhook(Provider.REVOLUT, order, OrderStatus.PROCESSING, now=now)
    response = await api.post(
        f"/ingest/{source['id']}",
        content=request.body + b" ",
        headers={**request.headers, "X-Request-Id": "partner-call-42"},
    )
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "partner-call-42"
    [refused] = [line for line in _lines(json_log) if "refused" in line["message"]]
    assert refused["request_id"] == "partner-call-42"
    assert refused["source_id"] == source["id"]
    assert refused["level"] == "warning"


async def test_a_request_id_is_made_when_none_or_a_strange_one_is_given(
    api: httpx.AsyncClient,
) -> None:
    made = await api.get("/healthz")
    assert made.headers["x-request-id"].startswith("req_")
    strange = await api.get("/healthz", headers={"X-Request-Id": "a b\x7f" + "x" * 100})
    assert strange.headers["x-request-id"].startswith("req_")


async def test_an_unexpected_error_logs_and_answers_its_request_id(
    settings: Settings, db: Database, json_log: io.StringIO
) -> None:
    app = create_app(settings.replace(run_worker=False), db=db)
    token = await api_key(db, Scope.READ)
    async with in_process(app, token, raise_app_exceptions=False) as api:

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("broken on purpose")

        app_state(app).orders.get = broken  # type: ignore[method-assign]
        given = await api.get(
            "/v1/orders/ord_01JD3W6Q9R0000000000000000", headers={"X-Request-Id": "call-500"}
        )
        made = await api.get("/v1/orders/ord_01JD3W6Q9R0000000000000000")
    assert given.status_code == 500
    assert given.json()["type"].endswith(":internal_error")
    assert "broken on purpose" not in given.text
    assert given.headers["x-request-id"] == "call-500"
    assert made.status_code == 500 and made.headers["x-request-id"].startswith("req_")
    errors = [line for line in _lines(json_log) if line["level"] == "error"]
    assert [line["request_id"] for line in errors] == ["call-500", made.headers["x-request-id"]]
    assert all("broken on purpose" in line["exception"] for line in errors)
