"""The orders API over real SQLite and PostgreSQL: the happy paths and every bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.storage import Database

ORDER: dict[str, Any] = {
    "side": "buy",
    "fiat": {"currency": "EUR", "amount": "100.00"},
    "crypto": {"asset": "USDC", "network": "ETHEREUM", "amount": "99.5"},
    "wallet_address": "0xabc",
    "fees": [{"type": "order", "asset": "EUR", "amount": "1.50"}],
    "references": {"user_email": "ana@example.com"},
}


async def counts(db: Database) -> tuple[int, ...]:
    async with db.connection() as conn:
        return tuple(
            [
                int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
                for table in ("orders", "timeline", "events", "idempotency_keys")
            ]
        )


async def create(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await api.post("/v1/orders", json={**ORDER, **changes})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_get_change_and_read_the_timeline(api: httpx.AsyncClient) -> None:
    order = await create(api)
    assert order["status"] == "created" and order["version"] == 1
    assert order["fiat"] == {"currency": "EUR", "amount": "100.00"}
    got = await api.get(f"/v1/orders/{order['id']}")
    assert got.json() == order

    paid = await api.post(
        f"/v1/orders/{order['id']}/changes",
        json={"status": "payment_received", "set": {"exchange_rate": "0.995"}},
    )
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["order"]["status"] == "payment_received"
    assert body["order"]["exchange_rate"] == "0.995"
    assert body["event"]["type"] == "order.payment_received"
    assert body["event"]["data"]["previous_status"] == "created"
    assert body["event"]["data"]["sequence"] == 2

    updated = await api.post(
        f"/v1/orders/{order['id']}/changes", json={"set": {"transaction_hash": "0xfeed"}}
    )
    assert updated.json()["event"]["type"] == "order.updated"

    same = await api.post(
        f"/v1/orders/{order['id']}/changes", json={"set": {"transaction_hash": "0xfeed"}}
    )
    assert same.json()["event"] is None and same.json()["order"]["version"] == 3

    done = await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
    assert done.json()["order"]["status"] == "completed"

    timeline = (await api.get(f"/v1/orders/{order['id']}/timeline")).json()["data"]
    assert [e["kind"] for e in timeline] == [
        "created",
        "applied",
        "applied",
        "unchanged",
        "applied",
    ]
    assert [e["to_status"] for e in timeline][-1] == "completed"
    assert timeline[1]["changed_fields"] == ["exchange_rate"]
    assert all(len(e["event_ids"]) == (0 if e["kind"] == "unchanged" else 1) for e in timeline)


async def test_completed_to_processing_is_refused_and_writes_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    order = await create(api)
    await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
    before = await counts(db)
    refused = await api.post(
        f"/v1/orders/{order['id']}/changes",
        json={"status": "processing", "set": {"note": "should not land"}},
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("illegal_transition")
    assert problem["from_status"] == "completed" and problem["to_status"] == "processing"
    assert await counts(db) == before
    assert (await api.get(f"/v1/orders/{order['id']}")).json()["note"] is None


async def test_idempotency_key_returns_the_same_order_and_conflicts_on_a_new_body(
    api: httpx.AsyncClient, db: Database
) -> None:
    headers = {"Idempotency-Key": "create-42"}
    first = await api.post("/v1/orders", json=ORDER, headers=headers)
    again = await api.post("/v1/orders", json=ORDER, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.content == first.content  # byte for byte on both back-ends (json, 0017)
    before = await counts(db)
    other = await api.post("/v1/orders", json={**ORDER, "side": "sell"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["type"].endswith("idempotency_conflict")
    assert await counts(db) == before


async def test_list_filters_and_cursor_pagination(api: httpx.AsyncClient) -> None:
    made = [await create(api, side="buy" if i % 2 else "sell") for i in range(7)]
    await api.post(f"/v1/orders/{made[0]['id']}/changes", json={"status": "failed"})

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/orders", params=params)).json()
        seen += [o["id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [o["id"] for o in reversed(made)]

    sells = (await api.get("/v1/orders", params={"side": "sell"})).json()["data"]
    assert {o["id"] for o in sells} == {o["id"] for o in made if o["side"] == "sell"}
    failed = (await api.get("/v1/orders", params={"status": ["failed", "expired"]})).json()
    assert [o["id"] for o in failed["data"]] == [made[0]["id"]]
    window = {"created_from": made[2]["created_at"], "created_to": made[4]["created_at"]}
    ranged = (await api.get("/v1/orders", params=window)).json()["data"]
    assert [o["id"] for o in ranged] == [made[3]["id"], made[2]["id"]]
    none = (await api.get("/v1/orders", params={"provider": "transak"})).json()
    assert none == {"data": [], "next_cursor": None}


async def test_every_fireblocks_detail_survives_the_api(api: httpx.AsyncClient) -> None:
    rich = {
        "side": "buy",
        "provider": "fireblocks",
        "provider_order_id": "ramp-abc123def456",
        "execution": {
            "type": "QUOTE",
            "quote_id": "quote-xyz789",
            "requote": False,
            "side": "BUY",
            "base_amount": "1000.00",
            "quote_amount": "950.50",
            "base_asset_id": "USD",
            "quote_asset_id": "BTC",
            "base_asset_rail": "FIAT",
            "quote_asset_rail": "BLOCKCHAIN",
        },
        "execution_steps": [
            {"type": "APPROVE", "status": "COMPLETED", "tx_id": "tx-approve-001"},
            {
                "type": "EXECUTE",
                "status": "PROCESSING",
                "tx_id": "tx-execute-002",
                "fee": {"type": "network", "asset": "BTC", "amount": "50", "amount_type": "bps"},
            },
        ],
        "payment": {
            "instructions": {
                "type": "PIX",
                "reference_id": "ref-1",
                "address": {
                    "account_holder": {"name": "Ana"},
                    "pix_key": "ana@x.br",
                    "key_type": "EMAIL",
                },
            }
        },
        "receipt": {"type": "BLOCKCHAIN", "tx_hash": "0x12", "amount": "0.025"},
        "settlement": {
            "type": "DVP",
            "source_account": {"type": "VAULT_ACCOUNT", "account_id": "vault-account-123"},
            "destination_account": {"type": "EXCHANGE_ACCOUNT", "account_id": "exchange-456"},
        },
        "via": {
            "type": "PROVIDER_ACCOUNT",
            "account_id": "provider-account-789",
            "provider_id": "provider-coinbase",
        },
        "failure": {"reason": "policy_rejection", "info": {"rule": "7"}},
        "expires_at": "2024-01-15T11:30:00.000Z",
    }
    order = await create(api, **{k: v for k, v in rich.items()}, fiat=None, crypto=None, fees=[])
    for key in ("execution", "settlement", "via", "receipt"):
        assert order[key] is not None
    assert order["payment"]["instructions"]["address"]["pix_key"] == "ana@x.br"
    assert order["execution_steps"][1]["fee"]["amount_type"] == "bps"
    assert order["failure"]["info"] == {"rule": "7"}
    assert order["expires_at"] == "2024-01-15T11:30:00Z"


BAD_CREATES: list[tuple[str, Any, int, str]] = [
    ("unknown field", {**ORDER, "colour": "red"}, 422, "colour"),
    (
        "unknown nested field",
        {**ORDER, "fiat": {"currency": "EUR", "amont": "1"}},
        422,
        "fiat.amont",
    ),
    ("wrong type", {**ORDER, "wallet_address": 12}, 422, "wallet_address"),
    ("float money", {**ORDER, "fiat": {"currency": "EUR", "amount": 10.5}}, 422, "fiat.amount"),
    (
        "invalid decimal",
        {**ORDER, "fiat": {"currency": "EUR", "amount": "ten"}},
        422,
        "fiat.amount",
    ),
    ("NaN", {**ORDER, "exchange_rate": "NaN"}, 422, "exchange_rate"),
    ("negative amount", {**ORDER, "fiat": {"currency": "EUR", "amount": "-1"}}, 422, "fiat"),
    ("naive timestamp", {**ORDER, "expires_at": "2024-01-15T10:30:00"}, 422, "expires_at"),
    ("unknown status", {**ORDER, "status": "teleported"}, 422, "status"),
    ("unknown side", {**ORDER, "side": "sideways"}, 422, "side"),
    ("missing side", {k: v for k, v in ORDER.items() if k != "side"}, 422, "side"),
    (
        "wrong payment type",
        {**ORDER, "payment": {"instructions": {"type": "CHEQUE"}}},
        422,
        "payment",
    ),
    ("provider without its id", {**ORDER, "provider": "transak"}, 422, "body"),
    ("not an object", [1, 2], 422, "body"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "field"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES]
)
async def test_bad_creates_are_4xx_problems_naming_the_field(
    api: httpx.AsyncClient, db: Database, case: str, body: Any, status: int, field: str
) -> None:
    before = await counts(db)
    response = await api.post("/v1/orders", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert await counts(db) == before


RAW_BAD: list[tuple[str, bytes, dict[str, str], int, str]] = [
    (
        "malformed JSON",
        b'{"side": "buy",',
        {"Content-Type": "application/json"},
        400,
        "malformed_json",
    ),
    ("not JSON at all", b"side=buy", {"Content-Type": "application/json"}, 400, "malformed_json"),
    (
        "wrong content type",
        b'{"side":"buy"}',
        {"Content-Type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    ("no content type", b'{"side":"buy"}', {}, 415, "unsupported_media_type"),
    (
        "oversized body",
        b'{"note":"' + b"x" * (1024 * 1024 + 10) + b'"}',
        {"Content-Type": "application/json"},
        413,
        "payload_too_large",
    ),
    (
        "bad idempotency key",
        b'{"side":"buy"}',
        {"Content-Type": "application/json", "Idempotency-Key": "has space"},
        400,
        "bad_request",
    ),
]


@pytest.mark.parametrize(
    ("case", "raw", "headers", "status", "code"), RAW_BAD, ids=[c[0] for c in RAW_BAD]
)
async def test_raw_bad_bodies_are_refused_before_anything_is_written(
    api: httpx.AsyncClient,
    db: Database,
    case: str,
    raw: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = await counts(db)
    response = await api.post("/v1/orders", content=raw, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(code)
    assert await counts(db) == before


async def test_body_limit_counts_streamed_bytes_without_content_length(
    api: httpx.AsyncClient, db: Database
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    before = await counts(db)
    response = await api.post(
        "/v1/orders", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert await counts(db) == before


BAD_CHANGES: list[tuple[str, Any, int, str]] = [
    ("empty change", {}, 422, "body"),
    ("unknown status", {"status": "warp"}, 422, "status"),
    ("unknown field in set", {"set": {"colour": "red"}}, 422, "set.colour"),
    ("fixed field in set", {"set": {"side": "sell"}}, 422, "set.side"),
    ("bad decimal in set", {"set": {"exchange_rate": "1,5"}}, 422, "set.exchange_rate"),
    (
        "naive time",
        {"status": "processing", "occurred_at": "2024-01-01T00:00:00"},
        422,
        "occurred_at",
    ),
    ("unknown top-level field", {"status": "processing", "force": True}, 422, "force"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "field"), BAD_CHANGES, ids=[c[0] for c in BAD_CHANGES]
)
async def test_bad_changes_are_4xx_and_write_nothing(
    api: httpx.AsyncClient, db: Database, case: str, body: Any, status: int, field: str
) -> None:
    order = await create(api)
    before = await counts(db)
    response = await api.post(f"/v1/orders/{order['id']}/changes", json=body)
    assert response.status_code == status, response.text
    assert any(e["field"].startswith(field) for e in response.json()["errors"])
    assert await counts(db) == before


async def test_unknown_and_malformed_order_ids(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/orders/ord_01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status_code == 404 and missing.json()["type"].endswith("not_found")
    malformed = await api.get("/v1/orders/not-an-id")
    assert malformed.status_code == 400
    change = await api.post(
        "/v1/orders/ord_01HZZZZZZZZZZZZZZZZZZZZZZZ/changes", json={"status": "failed"}
    )
    assert change.status_code == 404
    timeline = await api.get("/v1/orders/ord_01HZZZZZZZZZZZZZZZZZZZZZZZ/timeline")
    assert timeline.status_code == 404
    bad_cursor = await api.get("/v1/orders", params={"cursor": "zzz"})
    assert bad_cursor.status_code == 400
    naive = await api.get("/v1/orders", params={"created_from": "2024-01-01T00:00:00"})
    assert naive.status_code == 422


async def test_auth_401_and_403(api: httpx.AsyncClient, db: Database) -> None:
    no_header = await api.get("/v1/orders", headers={"Authorization": ""})
    assert no_header.status_code == 401
    assert no_header.headers["www-authenticate"] == "Bearer"
    wrong = await api.get("/v1/orders", headers={"Authorization": "Bearer rw_nope"})
    assert wrong.status_code == 401 and wrong.json()["type"].endswith("unauthorized")
    basic = await api.get("/v1/orders", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401

    keys = KeyRepository(db)
    reader, token = await keys.create("reader", Scope.READ)
    as_reader = {"Authorization": f"Bearer {token}"}
    assert (await api.get("/v1/orders", headers=as_reader)).status_code == 200
    before = await counts(db)
    forbidden = await api.post("/v1/orders", json=ORDER, headers=as_reader)
    assert forbidden.status_code == 403 and forbidden.json()["type"].endswith("forbidden")
    assert await counts(db) == before
    await keys.revoke(reader.id)
    assert (await api.get("/v1/orders", headers=as_reader)).status_code == 401


async def test_health_and_readiness_need_no_key(api: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    assert (await api.get("/healthz", headers=anonymous)).json() == {"status": "ok"}
    ready = await api.get("/readyz", headers=anonymous)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    spec = (await api.get("/openapi.json", headers=anonymous)).json()
    assert "/v1/orders/{order_id}/changes" in spec["paths"]
    assert (await api.get("/docs", headers=anonymous)).status_code == 200
