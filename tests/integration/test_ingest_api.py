"""Ingest through the API: sources, the inbound route, the raw log, on both back-ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from tests.support.ingest_kit import KITS, make_source, send, webhook

from rampwire.api.bodies import json_response
from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.storage import Database
from rampwire.types import utcnow

S = OrderStatus
SIDES = {
    Provider.REVOLUT: Side.BUY,
    Provider.SABER: Side.BUY,
    Provider.FIREBLOCKS: Side.BUY,
    Provider.KOYWE: Side.BUY,
    Provider.TRANSAK: Side.SELL,
}


async def counts(db: Database) -> dict[str, int]:
    found = {}
    async with db.connection() as conn:
        for table in ("orders", "events", "timeline", "inbound", "deliveries"):
            found[table] = int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
    return found


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_provider_lifecycle_becomes_one_order(
    api: httpx.AsyncClient, provider: Provider
) -> None:
    source = await make_source(api, provider)
    assert source["ingest_path"] == f"/ingest/{source['id']}"
    assert set(source["credentials"]) <= set(KITS[provider].source_credentials)
    now = utcnow()
    order = sample_order(DialectName(provider.value), S.CREATED, SIDES[provider], now=now)
    for step, status in enumerate((S.CREATED, S.PROCESSING, S.COMPLETED)):
        request = webhook(provider, order, status, now=now + timedelta(seconds=step))
        response = await send(api, source["id"], request)
        assert response.status_code == 200, response.text
        assert response.json()["duplicate"] is False
    found = (await api.get("/v1/orders", params={"provider": provider.value})).json()["data"]
    assert len(found) == 1
    assert found[0]["provider_order_id"] == order.provider_order_id
    assert found[0]["status"] == "completed"
    log = (await api.get("/v1/inbound", params={"source": source["id"]})).json()["data"]
    outcomes = [r["outcome"] for r in log]
    if provider is Provider.KOYWE:  # its first events name no side: they wait for the order
        assert outcomes == ["applied", "unchanged", "unchanged"]
    else:
        assert outcomes == ["applied", "applied", "applied"]
    assert {r["order_id"] for r in log} == {found[0]["id"]}


async def test_a_source_default_side_creates_orders_from_events_that_name_none(
    api: httpx.AsyncClient,
) -> None:
    source = await make_source(api, Provider.KOYWE, options={"default_side": "sell"})
    assert source["options"] == {"default_side": "sell"}
    now = utcnow()
    order = sample_order(DialectName.KOYWE, S.CREATED, Side.SELL, now=now)
    response = await send(api, source["id"], webhook(Provider.KOYWE, order, S.CREATED, now=now))
    assert response.json()["outcome"] == "applied"
    created = (await api.get(f"/v1/orders/{response.json()['order_id']}")).json()
    assert created["side"] == "sell"


async def test_a_duplicate_answers_200_and_adds_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = await make_source(api, Provider.REVOLUT)
    now = utcnow()
    order = sample_order(DialectName.REVOLUT, S.CREATED, Side.BUY, now=now)
    request = webhook(Provider.REVOLUT, order, S.PROCESSING, now=now)
    first = await send(api, source["id"], request)
    assert first.status_code == 200
    before = await counts(db)
    again = await send(api, source["id"], request)
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    for answer in (first, again):  # the ingest front's 200: the headers json_response sends
        raw = [(name, value) for name, value in answer.headers.raw if name != b"x-request-id"]
        assert raw == json_response(answer.content).raw_headers
        assert answer.headers["x-request-id"]
    assert await counts(db) == before
    stats = (await api.get(f"/v1/sources/{source['id']}")).json()["stats"]
    assert (stats["accepted"], stats["duplicates"], stats["rejected"]) == (1, 1, 0)


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_forged_request_is_401_counted_and_writes_nothing(
    api: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    source = await make_source(api, provider)
    now = utcnow()
    order = sample_order(DialectName(provider.value), S.CREATED, SIDES[provider], now=now)
    request = webhook(provider, order, S.COMPLETED, now=now)
    tampered = request.body.replace(b"0", b"1", 1) if b"0" in request.body else request.body + b" "
    before = await counts(db)
    response = await api.post(f"/ingest/{source['id']}", content=tampered, headers=request.headers)
    assert response.status_code in (400, 401), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await counts(db) == before
    stats = (await api.get(f"/v1/sources/{source['id']}")).json()["stats"]
    assert stats["rejected"] == 1 and stats["last_rejection"]


async def test_a_request_for_an_unknown_order_naming_no_side_waits_for_the_order(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = await make_source(api, Provider.KOYWE)
    now = utcnow()
    order = sample_order(DialectName.KOYWE, S.CREATED, Side.BUY, now=now)
    early = webhook(Provider.KOYWE, order, S.PROCESSING, now=now)
    response = await send(api, source["id"], early)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    assert record["outcome"] == "unapplied"  # Koywe's processing event names no side
    assert "not known yet" in record["detail"]
    assert (await counts(db))["orders"] == 0
    # crypto delivered names the side (buy): the order is created, the early request applied
    later = webhook(Provider.KOYWE, order, S.COMPLETED, now=now + timedelta(seconds=5))
    assert (await send(api, source["id"], later)).json()["outcome"] == "applied"
    shown = (await api.get(f"/v1/inbound/{record['id']}")).json()
    assert (shown["outcome"], shown["attempts"]) == ("unchanged", 2)  # stale by then
    assert shown["order_id"] is not None
    assert shown["body"] == early.body.decode()
    assert "authorization" not in shown["headers"]
    timeline = (await api.get(f"/v1/orders/{shown['order_id']}/timeline")).json()["data"]
    assert [e["kind"] for e in timeline] == ["created", "applied", "stale"]


async def test_reprocessing_an_applied_request_changes_nothing(api: httpx.AsyncClient) -> None:
    source = await make_source(api, Provider.TRANSAK)
    now = utcnow()
    order = sample_order(DialectName.TRANSAK, S.CREATED, Side.BUY, now=now)
    response = await send(api, source["id"], webhook(Provider.TRANSAK, order, S.COMPLETED, now=now))
    record = response.json()
    again = await api.post(f"/v1/inbound/{record['id']}/reprocess")
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "unchanged"
    assert again.json()["event_ids"] == record["event_ids"]


async def test_a_disabled_source_answers_503_and_an_unknown_one_404(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = await make_source(api, Provider.REVOLUT, enabled=False)
    now = utcnow()
    order = sample_order(DialectName.REVOLUT, S.CREATED, Side.BUY, now=now)
    request = webhook(Provider.REVOLUT, order, S.CREATED, now=now)
    before = await counts(db)
    disabled = await send(api, source["id"], request)
    assert disabled.status_code == 503 and disabled.headers["retry-after"]
    missing = await send(api, "src_01JAAAAAAAAAAAAAAAAAAAAAAA", request)
    assert missing.status_code == 404
    malformed = await send(api, "not-a-source", request)
    assert malformed.status_code == 400
    assert await counts(db) == before
    enabled = await api.patch(f"/v1/sources/{source['id']}", json={"enabled": True})
    assert enabled.status_code == 200
    assert (await send(api, source["id"], request)).status_code == 200


BAD_SOURCES: list[tuple[str, dict[str, Any], str]] = [
    ("provider", {"provider": "paypal"}, "provider"),
    ("no-credentials", {"credentials": None}, "credentials"),
    ("revolut-no-secrets", {"credentials": {"secrets": []}}, "credentials.secrets"),
    ("revolut-short", {"credentials": {"secrets": ["short"]}}, "credentials.secrets.0"),
    ("revolut-stray", {"credentials": {"secrets": ["x" * 20], "colour": 1}}, "credentials.colour"),
    ("tolerance", {"options": {"tolerance_seconds": 0}}, "options.tolerance_seconds"),
    ("name-empty", {"name": ""}, "name"),
    ("saber-token-missing", {"provider": "saber", "credentials": {"mode": "token"}}, "credentials"),
    (
        "saber-networks",
        {
            "provider": "saber",
            "credentials": {"mode": "ip_allowlist", "allowed_networks": ["nope"]},
        },
        "credentials",
    ),
    ("fireblocks-empty", {"provider": "fireblocks", "credentials": {}}, "credentials"),
    (
        "fireblocks-bad-pem",
        {"provider": "fireblocks", "credentials": {"public_keys": ["-----BEGIN PUBLIC KEY-----"]}},
        "credentials",
    ),
    ("transak-no-token", {"provider": "transak", "credentials": {}}, "credentials.access_token"),
]


async def test_bad_sources_are_422_naming_the_field_and_write_nothing(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    for name, change, field in BAD_SOURCES:
        with subtests.test(name):
            body = {
                "provider": "revolut",
                "name": "x",
                "credentials": {"secrets": ["wsk_0123456789abcdef"]},
                **change,
            }
            response = await api.post("/v1/sources", json=body)
            assert response.status_code == 422, response.text
            fields = [e["field"] for e in response.json().get("errors", [])]
            assert field in fields, response.text
            async with db.connection() as conn:
                assert await conn.fetchval("SELECT COUNT(*) FROM sources") == 0


async def test_credentials_never_come_back_and_are_encrypted_at_rest(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = await make_source(api, Provider.TRANSAK)
    assert source["credentials"] == ["access_token"]
    listed = (await api.get("/v1/sources")).text
    assert KITS[Provider.TRANSAK].source_credentials["access_token"] not in listed
    async with db.connection() as conn:
        stored = await conn.fetchval("SELECT credentials FROM sources WHERE id = $1", source["id"])
    assert KITS[Provider.TRANSAK].source_credentials["access_token"] not in stored


@pytest.mark.parametrize("provider", [Provider.KOYWE, Provider.TRANSAK, Provider.REVOLUT])
@pytest.mark.parametrize(
    ("age", "how"), [(timedelta(days=30), "too old"), (-timedelta(minutes=6), "in the future")]
)
async def test_a_webhook_signed_outside_the_window_is_401_counted_and_writes_nothing(
    api: httpx.AsyncClient, db: Database, provider: Provider, age: timedelta, how: str
) -> None:
    source = await make_source(api, provider)
    signed_at = utcnow() - age
    order = sample_order(DialectName(provider.value), S.CREATED, SIDES[provider], now=signed_at)
    request = webhook(provider, order, S.COMPLETED, now=signed_at)
    before = await counts(db)
    response = await send(api, source["id"], request)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert how in response.json()["detail"]
    assert await counts(db) == before
    stats = (await api.get(f"/v1/sources/{source['id']}")).json()["stats"]
    assert stats["rejected"] == 1 and "webhook_verification_failed" in stats["last_rejection"]


async def test_the_sources_tolerance_widens_the_window(api: httpx.AsyncClient) -> None:
    source = await make_source(api, Provider.KOYWE, options={"tolerance_seconds": 3600})
    signed_at = utcnow() - timedelta(minutes=30)
    order = sample_order(DialectName.KOYWE, S.CREATED, Side.BUY, now=signed_at)
    response = await send(
        api, source["id"], webhook(Provider.KOYWE, order, S.COMPLETED, now=signed_at)
    )
    assert response.status_code == 200, response.text


def _variants(provider: Provider, body: bytes, count: int) -> list[bytes]:
    """``count`` distinct re-serialisations of a captured body that still verify."""
    found: list[bytes] = []
    for i in range(count):
        spaced = body.replace(b",", b"," + b" " * (i % 7 + 1), 1 + i % 2)
        if provider is Provider.TRANSAK and i % 2:  # the JWT's envelope is not signed
            token = orjson.loads(body)["data"]
            found.append(orjson.dumps({f"extra{i}": i, "data": token}))
        else:
            found.append(b"\n" * (i // 7) + spaced + b" " * (i % 5))
    assert len(set(found)) == count
    return found


@pytest.mark.parametrize("provider", [Provider.KOYWE, Provider.TRANSAK])
async def test_re_serialised_copies_of_a_webhook_are_duplicates(
    api: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    source = await make_source(api, provider)
    now = utcnow()
    order = sample_order(DialectName(provider.value), S.CREATED, SIDES[provider], now=now)
    request = webhook(provider, order, S.COMPLETED, now=now)
    first = await send(api, source["id"], request)
    assert first.status_code == 200 and first.json()["duplicate"] is False, first.text
    before = await counts(db)
    for body in _variants(provider, request.body, 40):
        again = await api.post(f"/ingest/{source['id']}", content=body, headers=request.headers)
        assert again.status_code == 200, again.text
        assert again.json() == {"received": True, "duplicate": True}
    assert await counts(db) == before
    stats = (await api.get(f"/v1/sources/{source['id']}")).json()["stats"]
    assert (stats["accepted"], stats["duplicates"], stats["rejected"]) == (1, 40, 0)


@pytest.mark.parametrize("provider", [Provider.KOYWE, Provider.TRANSAK])
async def test_a_body_naming_a_key_twice_is_400_naming_it_and_writes_nothing(
    api: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    source = await make_source(api, provider)
    now = utcnow()
    order = sample_order(DialectName(provider.value), S.CREATED, SIDES[provider], now=now)
    request = webhook(provider, order, S.COMPLETED, now=now)
    key = "data" if provider is Provider.TRANSAK else "eventName"
    doubled = b'{"' + key.encode() + b'":"x",' + request.body[1:]
    before = await counts(db)
    response = await api.post(f"/ingest/{source['id']}", content=doubled, headers=request.headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert (problem["code"] if "code" in problem else problem["type"]).endswith(
        "duplicate_json_key"
    )
    assert problem["key"] == key and repr(key) in problem["detail"]
    assert await counts(db) == before


async def test_the_log_filtered_by_an_outcome_lists_its_requests_through_their_index(
    api: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = await make_source(api, Provider.KOYWE)
    now = utcnow()
    waiting = sample_order(DialectName.KOYWE, S.CREATED, Side.BUY, now=now)
    # an order's processing event names no side: it waits, unapplied, for the order
    await send(api, source["id"], webhook(Provider.KOYWE, waiting, S.PROCESSING, now=now))
    order = sample_order(DialectName.KOYWE, S.CREATED, Side.BUY, now=now)
    for step, status in enumerate((S.CREATED, S.PROCESSING, S.COMPLETED)):
        request = webhook(Provider.KOYWE, order, status, now=now + timedelta(seconds=step))
        await send(api, source["id"], request)
    log = (await api.get("/v1/inbound", params={"source": source["id"]})).json()["data"]
    by_outcome: dict[str, list[str]] = {}
    for record in log:  # newest first
        by_outcome.setdefault(record["outcome"], []).append(record["id"])
    assert sorted(by_outcome) == ["applied", "unapplied", "unchanged"]

    seen: list[str] = []
    if db.dialect == "sqlite":  # the listing's statement, planned again below
        from rampwire.storage.sqlite import SqliteConnection

        fetch = SqliteConnection.fetch

        async def recording(self: SqliteConnection, sql: str, *args: Any) -> Any:
            if "FROM inbound" in sql:
                seen.append(sql)
            return await fetch(self, sql, *args)

        monkeypatch.setattr(SqliteConnection, "fetch", recording)

    async def listed(outcome: str) -> list[str]:
        response = await api.get("/v1/inbound", params={"outcome": outcome})
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    for outcome in ("unchanged", "unapplied", "applied", "unmapped"):
        assert await listed(outcome) == by_outcome.get(outcome, [])
    if db.dialect == "sqlite":
        (unchanged, *_) = seen
        async with db.connection() as conn:
            plan = await conn.fetch(
                "EXPLAIN QUERY PLAN " + unchanged.replace("$", "?"), "unchanged", 50
            )
        steps = " ".join(str(row[3]) for row in plan)
        assert "USING INDEX inbound_outcome" in steps, steps
