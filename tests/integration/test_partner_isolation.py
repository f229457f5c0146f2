"""Partner isolation, generated from the OpenAPI document: every operation that takes a key is
called with partner A's key on partner B's objects (B's ids in every path parameter, and in
every body and query field that takes an id), and must answer 404 or 403; no row that names
one of B's objects changes.
The operations are read from ``/openapi.json`` at run time: a route added later is covered
without editing this test (a new id parameter whose kind it cannot tell fails it, loudly)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.support.apps import api_client
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.partners import make_partner, partner_token, rows_naming

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

# What an id parameter or field names, by its name, when its schema has no ``^prefix_`` pattern.
_KIND_BY_NAME = {
    "partner": "ptn",
    "partner_id": "ptn",
    "partners": "ptn",
    "source": "src",
    "source_id": "src",
    "order_id": "ord",
    "endpoint_id": "ep",
    "event_id": "evt",
    "delivery_id": "dlv",
    "record": "inb",
}
# parameters and fields that take no rampwire object's id (a provider's own reference is not one)
_NOT_IDS = {"cursor", "token", "Idempotency-Key", "provider_order_id"}


@pytest.fixture
async def operator(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An operator admin key on an app without a worker: nothing changes the database but the
    requests themselves."""
    async with api_client(
        settings.replace(run_worker=False), db, Scope.ADMIN, name="operator"
    ) as client:
        yield client


async def _objects_of(api: httpx.AsyncClient, token: str, partner_id: str) -> dict[str, str]:
    """One of every kind of object, owned by the partner of ``token``: its ids by prefix."""
    as_partner = {"Authorization": f"Bearer {token}"}
    endpoint = await api.post(
        "/v1/endpoints", json={"url": "http://127.0.0.1:9/hooks"}, headers=as_partner
    )
    order = await api.post("/v1/orders", json={"side": "buy"}, headers=as_partner)
    assert endpoint.status_code == order.status_code == 201, (endpoint.text, order.text)
    (delivery,) = (await api.get(f"/v1/endpoints/{endpoint.json()['id']}/deliveries")).json()[
        "data"
    ]
    source = await make_source(api, Provider.REVOLUT, partner_id=partner_id)
    now = utcnow()
    provider_order = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
    listen = await api.post("/v1/listen-sessions", json={}, headers=as_partner)
    assert listen.status_code == 201, listen.text
    inbound = await send(
        api, source["id"], webhook(Provider.REVOLUT, provider_order, OrderStatus.CREATED, now=now)
    )
    assert inbound.status_code == 200, inbound.text
    return {
        "ptn": partner_id,
        "ord": order.json()["id"],
        "ep": endpoint.json()["id"],
        "dlv": delivery["id"],
        "evt": delivery["event_id"],
        "src": source["id"],
        "inb": inbound.json()["id"],
        "lsn": listen.json()["id"],
    }


def _kind(name: str, schema: dict[str, Any]) -> str | None:
    """The id prefix a parameter or field takes, or None when it takes no id."""
    pattern = schema.get("pattern", "")
    if pattern.startswith("^") and "_" in pattern:
        return pattern[1 : pattern.index("_")]
    if name in _KIND_BY_NAME:
        return _KIND_BY_NAME[name]
    if name.endswith("_id") and name not in _NOT_IDS:
        raise AssertionError(f"{name!r} takes an id of a kind this test cannot tell: map it")
    return None


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for alternative in schema.get("anyOf", []):
        if alternative.get("type") != "null":
            return _resolve(doc, alternative)
    return schema


def _value(doc: dict[str, Any], name: str, schema: dict[str, Any], ids: dict[str, str]) -> Any:
    """A valid value for a field, B's id where the field takes one."""
    schema = _resolve(doc, schema)
    kind = _kind(name, schema)
    if kind is not None:
        return [ids[kind]] if schema.get("type") == "array" else ids[kind]
    if "enum" in schema:
        return schema["enum"][0]
    if name == "url":
        return "http://127.0.0.1:9/hooks"
    kind_of = schema.get("type")
    if kind_of == "object":
        return _body(doc, schema, ids)
    if kind_of == "array":
        return []
    if kind_of in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind_of == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return "x"


def _body(doc: dict[str, Any], schema: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The required fields, plus every field that takes an id, with B's ids."""
    schema = _resolve(doc, schema)
    properties = schema.get("properties", {})
    names = set(schema.get("required", [])) | {
        name for name, field in properties.items() if _kind(name, _resolve(doc, field))
    }
    return {name: _value(doc, name, properties[name], ids) for name in sorted(names)}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
        if op.get("security")  # operations a key opens; ingest's proof is the provider's
    ]


async def test_a_partner_key_reaches_nothing_of_another_partner(
    operator: httpx.AsyncClient, db: Database
) -> None:
    a = await make_partner(operator, "A")
    b = await make_partner(operator, "B")
    a_key = await partner_token(operator, a["id"])
    b_key = await partner_token(operator, b["id"])
    await _objects_of(operator, a_key, a["id"])  # A has objects too: the refusals are not
    theirs = await _objects_of(operator, b_key, b["id"])  # a matter of A having nothing
    doc = (await operator.get("/openapi.json")).json()
    as_a = {"Authorization": f"Bearer {a_key}"}
    before = await rows_naming(db, theirs)
    called = 0
    for method, path, op in _operations(doc):
        url, query, takes_id = path, {}, False
        for parameter in op.get("parameters", []):
            kind = _kind(parameter["name"], parameter.get("schema", {}))
            if kind is None:
                continue
            takes_id = True
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", theirs[kind])
            elif parameter["in"] == "query":
                query[parameter["name"]] = theirs[kind]
        assert "{" not in url, f"{method} {path}: a path parameter of no known kind"
        body = None
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content is not None:
            body = _body(doc, content["schema"], theirs)
            takes_id = takes_id or any(_kind(k, {}) for k in body)
        response = await operator.request(method, url, params=query, json=body, headers=as_a)
        if takes_id:
            called += 1
            assert response.status_code in (403, 404), (method, url, body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        else:  # reads nothing of anyone's (event types, the authorization config's 403...)
            assert response.status_code < 500, (method, url, response.text)
    assert called >= 30  # every route on an object, and every create that names a partner
    assert await rows_naming(db, theirs) == before
