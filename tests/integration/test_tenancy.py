"""Partners' objects kept apart over real SQLite and PostgreSQL: orders, endpoints, deliveries
and events of one partner are not found with another's key; an event fans out to its order's
partner's endpoints and the operator endpoints subscribed to that partner, never to another
partner's; a suspended partner's deliveries wait, kept, and go out on resume."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
from tests.support.apps import api_client
from tests.support.callbacks import configure, partner
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.partners import make_partner, partner_token
from tests.support.receivers import receiver

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.repository import KeyRepository
from rampwire.repository.deliveries import DeliveryRepository
from rampwire.repository.partners import PartnerRepository
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

JSON = {"Content-Type": "application/json"}


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _two(api: httpx.AsyncClient) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    a = await make_partner(api, "A")
    b = await make_partner(api, "B")
    return a, await partner_token(api, a["id"]), b, await partner_token(api, b["id"])


async def _order(api: httpx.AsyncClient, token: str | None = None, **body: Any) -> str:
    headers = {} if token is None else _as(token)
    response = await api.post("/v1/orders", json={"side": "buy", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def _endpoint(api: httpx.AsyncClient, token: str | None = None, **body: Any) -> str:
    headers = {} if token is None else _as(token)
    body = {"url": "http://127.0.0.1:9/hooks", **body}
    response = await api.post("/v1/endpoints", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def test_a_partner_sees_and_changes_only_its_own_orders(admin_api: httpx.AsyncClient) -> None:
    a, a_key, b, b_key = await _two(admin_api)
    mine = await _order(admin_api, a_key)
    theirs = await _order(admin_api, b_key)
    operators = await _order(admin_api)
    given = await _order(admin_api, partner_id=a["id"])  # an operator key names the partner
    for path in (f"/v1/orders/{theirs}", f"/v1/orders/{theirs}/timeline"):
        assert (await admin_api.get(path, headers=_as(a_key))).status_code == 404
    assert (await admin_api.get(f"/v1/orders/{operators}", headers=_as(a_key))).status_code == 404
    change = await admin_api.post(
        f"/v1/orders/{theirs}/changes", json={"status": "processing"}, headers=_as(a_key)
    )
    assert change.status_code == 404, change.text
    assert (await admin_api.get(f"/v1/orders/{theirs}")).json()["status"] == "created"
    listed = (await admin_api.get("/v1/orders", headers=_as(a_key))).json()["data"]
    assert {o["id"] for o in listed} == {mine, given}
    everything = (await admin_api.get("/v1/orders")).json()["data"]
    assert {o["id"] for o in everything} == {mine, theirs, operators, given}
    only_b = (await admin_api.get("/v1/orders", params={"partner": b["id"]})).json()["data"]
    assert [o["id"] for o in only_b] == [theirs]
    snooping = await admin_api.get("/v1/orders", params={"partner": b["id"]}, headers=_as(a_key))
    assert snooping.status_code == 404
    for partner_id in (b["id"], "ptn_nope"):
        refused = await admin_api.post(
            "/v1/orders", json={"side": "buy", "partner_id": partner_id}, headers=_as(a_key)
        )
        assert refused.status_code == 404, refused.text
    unknown = await admin_api.post("/v1/orders", json={"side": "buy", "partner_id": "ptn_x"})
    assert unknown.status_code == 404


async def test_an_order_names_its_partner_in_the_api_and_in_its_events(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    a, a_key, _, _ = await _two(admin_api)
    created = await admin_api.post("/v1/orders", json={"side": "buy"}, headers=_as(a_key))
    assert created.json()["partner_id"] == a["id"]
    order_id = created.json()["id"]
    operators = await _order(admin_api)
    changed = await admin_api.post(
        f"/v1/orders/{order_id}/changes", json={"status": "processing"}, headers=_as(a_key)
    )
    assert changed.json()["order"]["partner_id"] == a["id"]
    assert changed.json()["event"]["data"]["order"]["partner_id"] == a["id"]
    assert (await admin_api.get(f"/v1/orders/{order_id}")).json()["partner_id"] == a["id"]
    assert (await admin_api.get(f"/v1/orders/{operators}")).json()["partner_id"] is None
    listed = (await admin_api.get("/v1/orders")).json()["data"]
    assert {o["id"]: o["partner_id"] for o in listed} == {order_id: a["id"], operators: None}
    async with db.connection() as conn:
        payloads = await conn.fetch(
            "SELECT payload FROM events WHERE order_id = $1 ORDER BY sequence", order_id
        )
    assert [orjson.loads(row["payload"])["data"]["order"]["partner_id"] for row in payloads] == [
        a["id"],
        a["id"],
    ]


async def test_an_order_stored_before_orders_named_their_partner_reads_its_row(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    """A body written before the order carried ``partner_id``: the column answers."""
    a, a_key, _, _ = await _two(admin_api)
    order_id = await _order(admin_api, a_key)
    async with db.connection() as conn:
        body = orjson.loads(await conn.fetchval("SELECT body FROM orders WHERE id = $1", order_id))
        del body["partner_id"]
        await conn.execute(
            "UPDATE orders SET body = $1 WHERE id = $2", orjson.dumps(body).decode(), order_id
        )
    assert (await admin_api.get(f"/v1/orders/{order_id}")).json()["partner_id"] == a["id"]
    changed = await admin_api.post(
        f"/v1/orders/{order_id}/changes", json={"status": "processing"}, headers=_as(a_key)
    )
    assert changed.json()["event"]["data"]["order"]["partner_id"] == a["id"]


async def test_idempotency_keys_are_per_partner(admin_api: httpx.AsyncClient) -> None:
    a, a_key, _, b_key = await _two(admin_api)
    a_other_key = await partner_token(admin_api, a["id"])
    retry = {"Idempotency-Key": "create-1"}
    first = await admin_api.post(
        "/v1/orders", json={"side": "buy"}, headers={**_as(a_key), **retry}
    )
    again = await admin_api.post(
        "/v1/orders", json={"side": "buy"}, headers={**_as(a_other_key), **retry}
    )
    other = await admin_api.post(
        "/v1/orders", json={"side": "buy"}, headers={**_as(b_key), **retry}
    )
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["id"] != first.json()["id"]


async def test_a_partner_sees_only_its_own_endpoints(admin_api: httpx.AsyncClient) -> None:
    a, a_key, b, b_key = await _two(admin_api)
    mine = await _endpoint(admin_api, a_key)
    theirs = await _endpoint(admin_api, b_key)
    operators = await _endpoint(admin_api, partners=["*"])
    created = (await admin_api.get(f"/v1/endpoints/{mine}")).json()
    assert (created["partner_id"], created["partners"]) == (a["id"], [])
    assert (await admin_api.get(f"/v1/endpoints/{operators}")).json()["partners"] == ["*"]
    listed = (await admin_api.get("/v1/endpoints", headers=_as(a_key))).json()["data"]
    assert [e["id"] for e in listed] == [mine]
    for path in (theirs, operators):
        assert (await admin_api.get(f"/v1/endpoints/{path}", headers=_as(a_key))).status_code == 404
        deleted = await admin_api.delete(f"/v1/endpoints/{path}", headers=_as(a_key))
        assert deleted.status_code == 404
    subscribing = await admin_api.post(
        "/v1/endpoints",
        json={"url": "http://127.0.0.1:9/x", "partners": [b["id"]]},
        headers=_as(a_key),
    )
    assert subscribing.status_code == 403, subscribing.text
    bad = await admin_api.post(
        "/v1/endpoints", json={"url": "http://127.0.0.1:9/x", "partners": ["ptn_nope"]}
    )
    assert bad.status_code == 422, bad.text
    only_b = (await admin_api.get("/v1/endpoints", params={"partner": b["id"]})).json()["data"]
    assert [e["id"] for e in only_b] == [theirs]


async def _deliveries_by_endpoint(db: Database, order_id: str) -> dict[str, int]:
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT endpoint_id, COUNT(*) AS n FROM deliveries WHERE order_id = $1"
            " GROUP BY endpoint_id",
            order_id,
        )
    return {row["endpoint_id"]: int(row["n"]) for row in rows}


async def test_an_event_reaches_its_partners_endpoints_and_the_subscribed_operator_ones(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    _, a_key, b, b_key = await _two(admin_api)
    a_endpoint = await _endpoint(admin_api, a_key)
    b_endpoint = await _endpoint(admin_api, b_key)
    every_partner = await _endpoint(admin_api, partners=["*"])
    only_b = await _endpoint(admin_api, partners=[b["id"]])
    operator_own = await _endpoint(admin_api)
    a_order = await _order(admin_api, a_key)
    assert await _deliveries_by_endpoint(db, a_order) == {a_endpoint: 1, every_partner: 1}
    b_order = await _order(admin_api, b_key)
    await admin_api.post(f"/v1/orders/{b_order}/changes", json={"status": "processing"})
    assert await _deliveries_by_endpoint(db, b_order) == {
        b_endpoint: 2,
        every_partner: 2,
        only_b: 2,
    }
    own_order = await _order(admin_api)
    assert await _deliveries_by_endpoint(db, own_order) == {
        every_partner: 1,
        only_b: 1,
        operator_own: 1,
    }
    # a partner key lists an event's deliveries to its own endpoints only
    event_id = (await admin_api.get(f"/v1/endpoints/{every_partner}/deliveries")).json()["data"]
    a_event = next(d["event_id"] for d in event_id if d["order_id"] == a_order)
    seen = await admin_api.get(f"/v1/events/{a_event}/deliveries", headers=_as(a_key))
    assert [d["endpoint_id"] for d in seen.json()["data"]] == [a_endpoint]
    hidden = await admin_api.get(f"/v1/events/{a_event}/deliveries", headers=_as(b_key))
    assert hidden.status_code == 404


async def test_a_suspended_partners_deliveries_wait_and_go_out_on_resume(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    a, a_key, _, b_key = await _two(admin_api)
    async with receiver() as hooks:
        await _endpoint(admin_api, a_key, url=hooks.url)
        suspended = await admin_api.patch(f"/v1/partners/{a['id']}", json={"status": "suspended"})
        assert suspended.status_code == 200
        order_id = await _order(admin_api, partner_id=a["id"])
        # not due while suspended: a claim (the worker's own statement) does not take it
        claimed = await DeliveryRepository(db).claim(
            limit=100, lease=timedelta(seconds=10), token="test", now=utcnow()
        )
        assert claimed == []
        async with db.connection() as conn:
            waiting = await conn.fetch(
                "SELECT status FROM deliveries WHERE order_id = $1", order_id
            )
        assert [row["status"] for row in waiting] == ["pending"]
        assert (await admin_api.get("/v1/orders", headers=_as(a_key))).status_code == 403
        assert (await admin_api.get("/v1/orders", headers=_as(b_key))).status_code == 200
        resumed = await admin_api.patch(f"/v1/partners/{a['id']}", json={"status": "active"})
        assert resumed.status_code == 200
        (got,) = await hooks.wait_for(1)
        assert order_id.encode() in got.body


async def test_a_partners_source_makes_orders_of_that_partner(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    a, a_key, _, b_key = await _two(admin_api)
    a_endpoint = await _endpoint(admin_api, a_key)
    await _endpoint(admin_api, b_key)
    source = await make_source(admin_api, Provider.REVOLUT, partner_id=a["id"])
    assert source["partner_id"] == a["id"]
    assert (await admin_api.get("/v1/sources", headers=_as(a_key))).status_code == 403
    now = utcnow()
    order = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
    request = webhook(Provider.REVOLUT, order, OrderStatus.PROCESSING, now=now)
    response = await send(admin_api, source["id"], request)
    assert response.status_code == 200, response.text
    order_id = response.json()["order_id"]
    assert (await admin_api.get(f"/v1/orders/{order_id}", headers=_as(a_key))).status_code == 200
    assert (await admin_api.get(f"/v1/orders/{order_id}", headers=_as(b_key))).status_code == 404
    assert await _deliveries_by_endpoint(db, order_id) == {a_endpoint: 2}  # created, processing
    # the operator's source changes it later: the order's partner, not the source's, is owner
    operator_source = await make_source(admin_api, Provider.REVOLUT)
    later = webhook(Provider.REVOLUT, order, OrderStatus.COMPLETED, now=now + timedelta(seconds=1))
    response = await send(admin_api, operator_source["id"], later)
    assert response.status_code == 200, response.text
    assert response.json()["order_id"] == order_id
    assert await _deliveries_by_endpoint(db, order_id) == {a_endpoint: 3}
    listed = (await admin_api.get("/v1/sources", params={"partner": a["id"]})).json()["data"]
    assert [s["id"] for s in listed] == [source["id"]]


async def test_each_partner_answers_for_its_own_users(admin_api: httpx.AsyncClient) -> None:
    """A partner's own callback decides on its orders; a partner without one falls back to
    the operator's default; each partner reads only the decisions on its orders."""
    a, a_key, b, b_key = await _two(admin_api)
    order = {"side": "buy", "references": {"user_email": "ana@example.com"}}
    async with partner() as own, partner() as default:
        own.answer = {"allowed": False}
        set_own = await configure(admin_api, own.url, headers=_as(a_key))
        assert set_own.status_code == 200, set_own.text
        assert (await configure(admin_api, default.url)).status_code == 200
        refused = await admin_api.post("/v1/orders", json=order, headers=_as(a_key))
        assert refused.status_code == 403 and len(own.seen) == 1 and default.seen == []
        allowed = await admin_api.post("/v1/orders", json=order, headers=_as(b_key))
        assert allowed.status_code == 201 and len(default.seen) == 1 and len(own.seen) == 1
        a_log = (await admin_api.get("/v1/authorization/decisions", headers=_as(a_key))).json()
        assert [d["allowed"] for d in a_log["data"]] == [False]
        b_log = (await admin_api.get("/v1/authorization/decisions", headers=_as(b_key))).json()
        assert [d["order_id"] for d in b_log["data"]] == [allowed.json()["id"]]
        shown = await admin_api.get(f"/v1/partners/{a['id']}/authorization")
        assert shown.status_code == 200 and shown.json()["url"] == own.url
        assert (await admin_api.get(f"/v1/partners/{b['id']}/authorization")).status_code == 404
        assert (await admin_api.delete("/v1/authorization", headers=_as(a_key))).status_code == 204
        fallback = await admin_api.post("/v1/orders", json=order, headers=_as(a_key))
        assert fallback.status_code == 201 and len(default.seen) == 2


async def test_a_partner_over_its_quota_gets_429_and_the_others_do_not(
    settings: Settings, db: Database
) -> None:
    limited = settings.replace(partner_rate_limit=1, rate_burst=3, ingest_rate_limit=1)
    async with api_client(limited, db, Scope.ADMIN, name="operator") as api:
        partners, keys = PartnerRepository(db), KeyRepository(db)
        a = await partners.create(name="A", metadata={}, now=utcnow())
        b = await partners.create(name="B", metadata={}, now=utcnow())
        a_keys = [(await keys.create("a", Scope.WRITE, partner_id=a.id))[1] for _ in range(2)]
        b_key = (await keys.create("b", Scope.WRITE, partner_id=b.id))[1]
        # both of A's keys draw on A's one bucket: a burst of 3, then a refusal (the loop
        # stops at it; it does not count on how fast the requests go)
        answers = []
        for n in range(20):
            answers.append(await api.get("/v1/orders", headers=_as(a_keys[n % 2])))
            if answers[-1].status_code == 429:
                break
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        refused = answers[-1]
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"] == "application/problem+json"
        assert f"partner {a.id}" in refused.json()["detail"]
        assert (await api.get("/v1/orders", headers=_as(b_key))).status_code == 200
        source = await make_source(api, Provider.KOYWE)
        sent = []
        for _ in range(20):
            sent.append(
                (await api.post(f"/ingest/{source['id']}", content=b"{}", headers=JSON)).status_code
            )
            if sent[-1] == 429:
                break
        assert 429 not in sent[:3] and sent[-1] == 429  # per source, burst 3
