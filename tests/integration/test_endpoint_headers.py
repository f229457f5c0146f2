"""Endpoint custom headers over real SQLite and PostgreSQL: their values are sealed at rest,
masked to every key on the endpoint routes, shown in full only to write keys at
``/v1/endpoints/{id}/headers``, kept when written back masked, and sent in full to the receiver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from tests.support.apps import api_key, in_process
from tests.support.receivers import receiver

from rampwire.api import create_app
from rampwire.crypto import secret_box
from rampwire.delivery.endpoints import Endpoint, Ordering, SigningSecret
from rampwire.dialects import standard
from rampwire.domain import serde
from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.repository.endpoints import NO_HEADERS, EndpointRepository, headers_context
from rampwire.repository.sealed import reseal, stale
from rampwire.settings import Secret, Settings
from rampwire.storage import Database
from rampwire.types import utcnow

HEADER_SECRET = "Bearer hdr-7a1f3c9e5b2d4068"
NO_RETRY = {"retry_delays": [], "jitter": 0.0}
WAIT_S = 20.0


@pytest.fixture
async def read_api(
    settings: Settings, db: Database, api: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A read-only key on the same app as ``api``."""
    _, token = await KeyRepository(db).create("reader", Scope.READ)
    transport = api._transport  # the same app and lifespan
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://rampwire.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def stored_headers(db: Database, endpoint_id: str) -> str:
    async with db.connection() as conn:
        return str(await conn.fetchval("SELECT headers FROM endpoints WHERE id = $1", endpoint_id))


async def test_values_are_sealed_at_rest_and_masked_to_a_read_key(
    api: httpx.AsyncClient, read_api: httpx.AsyncClient, db: Database
) -> None:
    created = await api.post(
        "/v1/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "headers": {"Authorization": HEADER_SECRET}},
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    assert created.json()["headers"] == {"Authorization": "********"}
    assert HEADER_SECRET not in await stored_headers(db, endpoint_id)

    for path in ("/v1/endpoints", f"/v1/endpoints/{endpoint_id}"):
        shown = await read_api.get(path)
        assert shown.status_code == 200, shown.text
        assert HEADER_SECRET not in shown.text
    assert (await read_api.get(f"/v1/endpoints/{endpoint_id}/headers")).status_code == 403
    full = await api.get(f"/v1/endpoints/{endpoint_id}/headers")
    assert full.status_code == 200, full.text
    assert full.json() == {"headers": {"Authorization": HEADER_SECRET}}


async def test_a_masked_value_written_back_keeps_the_stored_one(
    api: httpx.AsyncClient, db: Database
) -> None:
    created = await api.post(
        "/v1/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "headers": {"Authorization": HEADER_SECRET}},
    )
    endpoint = created.json()
    patched = await api.patch(
        f"/v1/endpoints/{endpoint['id']}",
        json={"headers": {**endpoint["headers"], "X-Tenant": "acme"}},
    )
    assert patched.status_code == 200, patched.text
    full = await api.get(f"/v1/endpoints/{endpoint['id']}/headers")
    assert full.json()["headers"] == {"Authorization": HEADER_SECRET, "X-Tenant": "acme"}
    assert HEADER_SECRET not in await stored_headers(db, endpoint["id"])

    unknown = await api.patch(
        f"/v1/endpoints/{endpoint['id']}", json={"headers": {"X-Other": "********"}}
    )
    assert unknown.status_code == 422, unknown.text
    assert [e["field"] for e in unknown.json()["errors"]] == ["headers.X-Other"]


async def test_the_receiver_gets_the_value_in_full(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        created = await api.post(
            "/v1/endpoints",
            json={
                "url": hooks.url,
                "headers": {"X-Api-Key": HEADER_SECRET},
                "retry_policy": NO_RETRY,
            },
        )
        assert created.status_code == 201, created.text
        assert (await api.post("/v1/orders", json={"side": "buy"})).status_code == 201
        [got] = await hooks.wait_for(1)
    assert got.headers["X-Api-Key"] == HEADER_SECRET


async def test_clear_values_from_before_are_read_and_then_sealed(
    settings: Settings, db: Database
) -> None:
    app = create_app(settings.replace(run_worker=False), db=db)
    async with in_process(app, await api_key(db, Scope.WRITE)) as api:
        repo: EndpointRepository = app.state.rampwire.endpoints
        created = await api.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/h"})
        endpoint_id = created.json()["id"]
        async with db.transaction() as conn:  # as an earlier version wrote it
            await conn.execute(
                "UPDATE endpoints SET headers = $2 WHERE id = $1",
                endpoint_id,
                json.dumps({"Authorization": HEADER_SECRET}),
            )
        assert (await repo.get(endpoint_id)).headers == {"Authorization": HEADER_SECRET}
        assert await repo.seal_clear_headers() == 1
        assert await repo.seal_clear_headers() == 0
        assert HEADER_SECRET not in await stored_headers(db, endpoint_id)
        fresh = EndpointRepository(db, secret_box(settings))
        assert (await fresh.get(endpoint_id)).headers == {"Authorization": HEADER_SECRET}


async def test_a_stored_row_reads_back_every_field(settings: Settings, db: Database) -> None:
    """The repository's row unpacking and :func:`endpoint_of_values` agree on the order."""
    repo = EndpointRepository(db, secret_box(settings))
    now = utcnow()
    endpoint = await repo.create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url="http://127.0.0.1:9/h",
            event_types=("order.completed", "order.failed"),
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now - timedelta(days=1),
            updated_at=now,
            description="every field",
            headers={"X-Api-Key": HEADER_SECRET},
            rate_limit=5,
            max_in_flight=7,
            ordering=Ordering.PER_ORDER_FIFO,
            retry_policy=NO_RETRY,
            disabled_at=now - timedelta(hours=1),
            disabled_reason="paused",
            partners=("pt_x", "pt_y"),
            signatures=("v1", "v1a"),
            traceparent=True,
        )
    )
    assert await repo.get(endpoint.id) == endpoint
    assert (await repo.get_many([endpoint.id]))[endpoint.id] == endpoint


async def test_no_headers_are_stored_unsealed_and_a_sealed_empty_map_still_reads(
    settings: Settings, db: Database
) -> None:
    box = secret_box(settings)
    repo = EndpointRepository(db, box)
    now = utcnow()
    endpoint = await repo.create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url="http://127.0.0.1:9/h",
            event_types=("order.*",),
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now,
            updated_at=now,
        )
    )
    assert await stored_headers(db, endpoint.id) == NO_HEADERS
    assert (await repo.get(endpoint.id)).headers == {}
    assert await repo.seal_clear_headers() == 0  # nothing to seal, left as it is
    assert (await stale(db, box))["endpoints.headers"] == 0
    assert (await reseal(db, box))["endpoints.headers"] == 0
    assert await stored_headers(db, endpoint.id) == NO_HEADERS

    # an empty map sealed by an earlier version reads the same, and is not rewritten
    sealed = serde.to_json(box.encrypt("{}", context=headers_context(endpoint.id))).decode()
    async with db.transaction() as conn:
        await conn.execute("UPDATE endpoints SET headers = $2 WHERE id = $1", endpoint.id, sealed)
    assert (await repo.get(endpoint.id)).headers == {}
    assert await repo.seal_clear_headers() == 0
    assert json.loads(await stored_headers(db, endpoint.id)) == json.loads(sealed)

    # headers given later are sealed; emptied again, stored unsealed
    given = await repo.update(endpoint.id, {"headers": {"X-Api-Key": HEADER_SECRET}}, now=now)
    assert given.headers == {"X-Api-Key": HEADER_SECRET}
    assert HEADER_SECRET not in await stored_headers(db, endpoint.id)
    emptied = await repo.update(endpoint.id, {"headers": {}}, now=now)
    assert emptied.headers == {}
    assert await stored_headers(db, endpoint.id) == NO_HEADERS
