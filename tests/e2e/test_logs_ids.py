"""JSON logs of a real ``rampwire serve``, read back line by line: every line parses, and each
carries the ids it has. A partner's order change (its access line: request, order and partner
ids), a webhook ingested through the partner's source (source, order and partner ids), and the
retry of a delivery of that order (delivery, endpoint, event, order and partner ids)."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from pathlib import Path
from typing import Any

import httpx
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.processes import environment, free_port, processes
from tests.support.receivers import receiver

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.repository import KeyRepository
from rampwire.storage import migrate, open_database
from rampwire.types import utcnow

MASTER_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


# what serve prints on stdout for a person (the test's log file holds stdout and stderr)
BANNER = ("rampwire listening on ", "API docs: ", "dashboard: ", "private targets allowed ")


def _lines(text: str) -> list[dict[str, Any]]:
    """Every log line, parsed; anything else must be the banner."""
    found = []
    for line in text.splitlines():
        if line.startswith(BANNER):
            continue
        found.append(json.loads(line))  # raises on a line that is not JSON
    return found


async def test_every_json_line_parses_and_carries_its_ids(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'rampwire.db'}"
    db = open_database(database_url)
    await db.open()
    await migrate(db)
    _, operator_key = await KeyRepository(db).create("e2e", Scope.ADMIN)
    await db.close()
    env = environment(
        tmp_path,
        RAMPWIRE_DATABASE_URL=database_url,
        RAMPWIRE_MASTER_KEY=MASTER_KEY,
        RAMPWIRE_LOG_FORMAT="json",
        RAMPWIRE_LOG_LEVEL="DEBUG",  # the access log's lines too
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as started:
        serve = started.start("serve", env, "serve", "--port", str(port))
        await started.healthy(url, serve)
        async with (
            receiver() as hooks,
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {operator_key}"}
            ) as operator,
        ):
            hooks.answer = lambda got: 503 if len(hooks.requests) == 1 else 200
            partner = (await operator.post("/v1/partners", json={"name": "Acme"})).json()
            key = await operator.post(
                f"/v1/partners/{partner['id']}/keys", json={"name": "acme", "scope": "write"}
            )
            assert key.status_code == 201, key.text
            token = key.json()["token"]
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {token}"}
            ) as client:
                body = {
                    "url": hooks.url,
                    "event_types": ["order.completed"],
                    "retry_policy": {"retry_delays": [0.05], "jitter": 0.0},
                }
                assert (await client.post("/v1/endpoints", json=body)).status_code == 201
                order = (await client.post("/v1/orders", json={"side": "buy"})).json()
                change = await client.post(
                    f"/v1/orders/{order['id']}/changes",
                    json={"status": "completed"},
                    headers={"X-Request-Id": "acme-call-7"},
                )
                assert change.status_code == 200, change.text
                await hooks.wait_for(2)
                source = await make_source(operator, Provider.REVOLUT, partner_id=partner["id"])
                now = utcnow()
                sold = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
                ingested = await send(
                    client,
                    source["id"],
                    webhook(Provider.REVOLUT, sold, OrderStatus.CREATED, now=now),
                )
                assert ingested.status_code == 200, ingested.text
                ingested_order = ingested.json()["order_id"]
        await asyncio.sleep(0.2)  # the last lines reach the file
        assert await started.stop(serve) in (0, -signal.SIGTERM), started.log(serve)
        lines = _lines(started.log(serve))  # every line parses, or this raises

    def one(needle: str) -> dict[str, Any]:
        [line] = [line for line in lines if needle in line["message"]]
        return line

    changed = one(f"POST /v1/orders/{order['id']}/changes")
    assert changed["logger"] == "uvicorn.access"
    assert changed["request_id"] == "acme-call-7"
    assert (changed["order_id"], changed["partner_id"]) == (order["id"], partner["id"])
    created = one('"POST /v1/orders HTTP')
    assert (created["order_id"], created["partner_id"]) == (order["id"], partner["id"])
    inbound = one(f"POST /ingest/{source['id']}")
    assert inbound["source_id"] == source["id"]
    assert (inbound["order_id"], inbound["partner_id"]) == (ingested_order, partner["id"])
    retry = one("attempt 1 failed")
    assert retry["level"] == "warning"
    assert (retry["order_id"], retry["partner_id"]) == (order["id"], partner["id"])
    assert {"delivery_id", "endpoint_id", "event_id"} <= set(retry)
    assert all("request_id" in line for line in lines if line["logger"] == "uvicorn.access")
