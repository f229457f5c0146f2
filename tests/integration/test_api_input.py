"""Input at the API edge over real SQLite and PostgreSQL (issue 16 items 8-11): amounts and
currencies, a provider order created twice, unknown query parameters, time parameters, and
stored rows that no longer load."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest

from rampwire.storage import Database

from .test_api_orders import ORDER, counts, create


def _with(path: str, value: Any) -> dict[str, Any]:
    """ORDER with the dotted ``path`` set to ``value``."""
    body = copy.deepcopy(ORDER)
    *parents, last = path.split(".")
    node: Any = body
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node.setdefault(name, {})
    node[last] = value
    return body


BAD_AMOUNTS: list[tuple[str, str, Any, str, str]] = [
    ("huge exponent", "fiat.amount", "1e999999", "fiat.amount", "too large"),
    ("tiny exponent", "crypto.amount", "1e-999999", "crypto.amount", "after the point"),
    ("NaN", "fiat.amount", "NaN", "fiat.amount", "not a decimal"),
    ("sNaN", "crypto.amount", "sNaN", "crypto.amount", "not a decimal"),
    ("infinity", "exchange_rate", "Infinity", "exchange_rate", "not a decimal"),
    ("above the upper bound", "crypto.amount", "1000000000000000", "crypto.amount", "below"),
    ("EUR cents and a half", "fiat.amount", "10.005", "fiat.amount", "EUR allows 2"),
    ("crypto beyond 18 places", "crypto.amount", "0." + "0" * 18 + "1", "crypto.amount", "18"),
    ("negative rate", "exchange_rate", "-1.5", "exchange_rate", "negative"),
    ("negative fiat", "fiat.amount", "-1", "fiat", "negative"),  # Money's own rule
    ("fee in EUR with 3 places", "fees.0.amount", "1.505", "fees.0.amount", "EUR allows 2"),
    ("JPY has no minor unit", "fiat", {"currency": "JPY", "amount": "100.5"}, "fiat.amount", "0"),
    ("BHD has 3", "fiat", {"currency": "BHD", "amount": "1.0005"}, "fiat.amount", "BHD allows 3"),
    ("made-up currency", "fiat.currency", "XYZ", "fiat.currency", "ISO 4217"),
    ("lower-case currency", "fiat.currency", "eur", "fiat.currency", "ISO 4217"),
    ("not a code", "fiat.currency", "EURO", "fiat.currency", "ISO 4217"),
    ("crypto as fiat", "fiat.currency", "BTC", "fiat.currency", "ISO 4217"),
    ("no minor unit", "fiat.currency", "XAU", "fiat.currency", "not a fiat currency"),
]


@pytest.mark.parametrize(
    ("case", "path", "value", "field", "reason"), BAD_AMOUNTS, ids=[c[0] for c in BAD_AMOUNTS]
)
async def test_bad_amounts_and_currencies_are_422_naming_the_field_and_rule(
    api: httpx.AsyncClient, db: Database, case: str, path: str, value: Any, field: str, reason: str
) -> None:
    before = await counts(db)
    response = await api.post("/v1/orders", json=_with(path, value))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("case", "path", "value", "field", "reason"), BAD_AMOUNTS, ids=[c[0] for c in BAD_AMOUNTS]
)
async def test_the_same_rules_hold_for_changes(
    api: httpx.AsyncClient, db: Database, case: str, path: str, value: Any, field: str, reason: str
) -> None:
    order = await create(api)
    top = path.split(".")[0]
    before = await counts(db)
    change = {"set": {top: _with(path, value)[top]}}
    response = await api.post(f"/v1/orders/{order['id']}/changes", json=change)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == f"set.{field}" and reason in e["reason"] for e in errors), errors
    assert await counts(db) == before


async def test_good_amounts_are_kept_and_zeros_lose_their_sign(api: httpx.AsyncClient) -> None:
    order = await create(
        api,
        fiat={"currency": "BHD", "amount": "1.005"},
        crypto={"asset": "ETH", "amount": "0." + "0" * 17 + "1"},
        exchange_rate="-0",
        fees=[{"type": "rebate", "asset": "USDC", "amount": "-0.25"}],
    )
    assert order["fiat"]["amount"] == "1.005"
    assert order["crypto"]["amount"] == "0.000000000000000001"
    assert order["exchange_rate"] == "0"
    yen = await create(api, fiat={"currency": "JPY", "amount": "1500"}, fees=[])
    assert yen["fiat"] == {"currency": "JPY", "amount": "1500"}
    trailing = await create(api, fiat={"currency": "EUR", "amount": "10.500"})
    assert trailing["fiat"]["amount"] == "10.500"  # ten and a half: as sent
    listed = (await api.get("/v1/orders")).json()["data"]
    assert {o["id"] for o in listed} == {order["id"], yen["id"], trailing["id"]}


async def test_a_provider_order_created_twice_is_409_naming_the_first(
    api: httpx.AsyncClient, db: Database
) -> None:
    first = await create(api, provider="transak", provider_order_id="tr-1")
    before = await counts(db)
    again = await api.post(
        "/v1/orders", json={**ORDER, "provider": "transak", "provider_order_id": "tr-1"}
    )
    assert again.status_code == 409, again.text
    problem = again.json()
    assert problem["type"].endswith("provider_order_exists")
    assert problem["order_id"] == first["id"] and first["id"] in problem["detail"]
    assert await counts(db) == before
    other = await create(api, provider="koywe", provider_order_id="tr-1")  # another provider's
    assert other["id"] != first["id"]


async def test_concurrent_creates_of_one_provider_order_make_one(
    api: httpx.AsyncClient, db: Database
) -> None:
    """Creates that share a batch, or race in two, fail alone: each other create is written."""
    bodies = [
        {**ORDER, "provider": "saber", "provider_order_id": "dup" if i % 2 else f"own-{i}"}
        for i in range(12)
    ]
    answers = await asyncio.gather(*(api.post("/v1/orders", json=body) for body in bodies))
    made = [a.json() for a in answers if a.status_code == 201]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert len(made) == 7 and len(refused) == 5, [a.status_code for a in answers]
    [dup] = [o for o in made if o["provider_order_id"] == "dup"]
    assert {p["order_id"] for p in refused} == {dup["id"]}
    assert (await counts(db))[0] == 7


async def test_unknown_query_parameters_are_422_naming_them(
    admin_api: httpx.AsyncClient,
) -> None:
    order = await create(admin_api)
    routes = [
        "/v1/orders",
        f"/v1/orders/{order['id']}",
        f"/v1/orders/{order['id']}/timeline",
        "/v1/endpoints",
        "/v1/sources",
        "/v1/inbound",
        "/v1/authorization/decisions",
        "/v1/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ/deliveries",
    ]
    for route in routes:
        response = await admin_api.get(route, params={"wallet_address": "0xabc"})
        assert response.status_code == 422, (route, response.text)
        assert response.json()["errors"] == [
            {"field": "wallet_address", "reason": "is not a known query parameter"}
        ], route
    post = await admin_api.post("/v1/orders", params={"dry_run": "1"}, json=ORDER)
    assert post.status_code == 422 and "dry_run" in post.json()["detail"]
    fine = await admin_api.get("/v1/orders", params={"status": ["created", "failed"], "limit": 5})
    assert fine.status_code == 200 and len(fine.json()["data"]) == 1


@pytest.mark.parametrize(
    "value",
    [
        "-4.08e-306",
        "1e9",
        "NaN",
        "inf",
        "-1",
        "1969-12-31T23:59:59Z",
        "10000-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",
        "999999999999",
        "2024-01-01T00:00:00",
        "yesterday",
        "",
    ],
)
async def test_time_parameters_refuse_what_is_not_a_time(
    api: httpx.AsyncClient, value: str
) -> None:
    response = await api.get("/v1/orders", params={"created_from": value})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["created_from"]


async def test_time_parameters_take_iso_8601_and_epoch_seconds(api: httpx.AsyncClient) -> None:
    order = await create(api)
    for value in ("2024-01-01T00:00:00Z", "2024-01-01T02:00:00+02:00", "1700000000", "0.5"):
        page = await api.get("/v1/orders", params={"created_from": value})
        assert [o["id"] for o in page.json()["data"]] == [order["id"]], value
    later = await api.get("/v1/orders", params={"created_to": "1700000000"})
    assert later.json()["data"] == []


async def test_a_stored_order_that_does_not_load_is_skipped_and_named(
    api: httpx.AsyncClient, db: Database
) -> None:
    made = [await create(api) for _ in range(3)]
    broken = made[1]["id"]
    body = {**made[1], "fiat": {"currency": "EUR", "amount": "1" + "0" * 1000}}
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE orders SET body = $1 WHERE id = $2",
            json.dumps(body),
            broken,
        )

    page = await api.get("/v1/orders")
    assert page.status_code == 200, page.text
    assert [o["id"] for o in page.json()["data"]] == [made[2]["id"], made[0]["id"]]
    assert page.json()["unreadable"] == [broken]

    seen: list[str] = []
    cursor = None
    while True:  # pages still reach the end: the cursor counts the unreadable row
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        one = (await api.get("/v1/orders", params=params)).json()
        seen += [o["id"] for o in one["data"]] + one.get("unreadable", [])
        cursor = one["next_cursor"]
        if cursor is None:
            break
    assert seen == [made[2]["id"], broken, made[0]["id"]]

    for response in (
        await api.get(f"/v1/orders/{broken}"),
        await api.get(f"/v1/orders/{broken}/timeline"),
        await api.post(f"/v1/orders/{broken}/changes", json={"status": "processing"}),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["type"].endswith("unreadable_order")
        assert response.json()["order_id"] == broken
    fine = await api.post(f"/v1/orders/{made[0]['id']}/changes", json={"status": "processing"})
    assert fine.status_code == 200


# (case, path, body, field, reason): what a caller can send, said in the caller's terms
USER_TERMS: list[tuple[str, str, Any, str, str]] = [
    ("order body a list", "/v1/orders", [], "body", "must be a JSON object"),
    ("order body a string", "/v1/orders", "buy", "body", "must be a JSON object"),
    ("money a number", "/v1/orders", {"side": "buy", "fiat": 5}, "fiat", "must be a JSON object"),
    ("unknown side", "/v1/orders", {"side": "up"}, "side", "must be 'buy' or 'sell'"),
    ("change body a list", "/v1/orders/{order}/changes", [], "body", "must be a JSON object"),
    (
        "bad amount in a change",
        "/v1/orders/{order}/changes",
        {"set": {"fiat": {"currency": "EUR", "amount": "x"}}},
        "set.fiat.amount",
        "'x' is not a decimal number",
    ),
    (
        "long metadata in a change",
        "/v1/orders/{order}/changes",
        {"set": {"metadata": {"a": "x" * 501}}},
        "set.metadata",
        "values are at most 500 characters",
    ),
    ("endpoint body a list", "/v1/endpoints", [], "body", "must be a JSON object"),
    ("endpoint url a number", "/v1/endpoints", {"url": 5}, "url", "must be a string"),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "field", "reason"), USER_TERMS, ids=[c[0] for c in USER_TERMS]
)
async def test_errors_are_said_in_the_callers_terms(
    api: httpx.AsyncClient, db: Database, case: str, path: str, body: Any, field: str, reason: str
) -> None:
    order = await create(api)
    before = await counts(db)
    response = await api.post(path.format(order=order["id"]), json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    first = problem["errors"][0]
    assert first["field"] == field and first["reason"].startswith(reason), problem
    for python in ("instance of", "Value error", "Input should", "OrderCreate", "Money"):
        assert python not in response.text
    assert await counts(db) == before
