"""Partners over real SQLite and PostgreSQL: CRUD with operator keys, partner keys, suspension
refusing them, bad input refused with nothing written (the ``rampwire partners`` commands:
tests/e2e/test_cli_remote.py)."""

from __future__ import annotations

import httpx
from tests.support.partners import make_partner, partner_token

from rampwire.storage import Database


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _partner_count(db: Database) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM partners"))


async def test_partners_are_managed_with_operator_keys(admin_api: httpx.AsyncClient) -> None:
    partner = await make_partner(admin_api)
    assert partner["id"].startswith("ptn_") and partner["status"] == "active"
    assert partner["metadata"] == {"tier": "gold"}
    assert (await admin_api.get(f"/v1/partners/{partner['id']}")).json() == partner
    other = await make_partner(admin_api, "Globex")
    listed = (await admin_api.get("/v1/partners")).json()
    assert [p["id"] for p in listed["data"]] == [other["id"], partner["id"]]
    changed = await admin_api.patch(
        f"/v1/partners/{partner['id']}", json={"name": "Acme Ltd", "status": "suspended"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["status"]) == ("Acme Ltd", "suspended")
    suspended = (await admin_api.get("/v1/partners", params={"status": "suspended"})).json()
    assert [p["id"] for p in suspended["data"]] == [partner["id"]]
    assert (await admin_api.delete(f"/v1/partners/{other['id']}")).status_code == 204
    assert (await admin_api.get(f"/v1/partners/{other['id']}")).status_code == 404
    assert (await admin_api.delete(f"/v1/partners/{other['id']}")).status_code == 404


async def test_a_suspended_partners_keys_are_refused_and_work_again_on_resume(
    admin_api: httpx.AsyncClient,
) -> None:
    partner = await make_partner(admin_api)
    token = await partner_token(admin_api, partner["id"])
    assert (await admin_api.get("/v1/orders", headers=_as(token))).status_code == 200
    await admin_api.patch(f"/v1/partners/{partner['id']}", json={"status": "suspended"})
    refused = await admin_api.get("/v1/orders", headers=_as(token))
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["reason"] == "partner_suspended" and partner["id"] in problem["detail"]
    await admin_api.patch(f"/v1/partners/{partner['id']}", json={"status": "active"})
    assert (await admin_api.get("/v1/orders", headers=_as(token))).status_code == 200


async def test_a_deleted_partners_keys_stop_working(admin_api: httpx.AsyncClient) -> None:
    partner = await make_partner(admin_api)
    token = await partner_token(admin_api, partner["id"])
    await admin_api.delete(f"/v1/partners/{partner['id']}")
    assert (await admin_api.get("/v1/orders", headers=_as(token))).status_code == 401


async def test_partner_keys_cannot_manage_partners(admin_api: httpx.AsyncClient) -> None:
    partner = await make_partner(admin_api)
    token = await partner_token(admin_api, partner["id"])
    for method, path in (
        ("GET", "/v1/partners"),
        ("GET", f"/v1/partners/{partner['id']}"),
        ("POST", "/v1/partners"),
    ):
        response = await admin_api.request(method, path, headers=_as(token), json={"name": "x"})
        assert response.status_code == 403, (method, path, response.text)


async def test_write_keys_cannot_manage_partners(api: httpx.AsyncClient, db: Database) -> None:
    assert (await api.post("/v1/partners", json={"name": "x"})).status_code == 403
    assert await _partner_count(db) == 0


async def test_bad_input_is_refused_with_nothing_written(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    for body in (
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "x", "metadata": []},
        {"name": "x", "metadata": {"blob": "y" * 9000}},
        {"name": "x", "extra": 1},
    ):
        response = await admin_api.post("/v1/partners", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    partner = await make_partner(admin_api)
    before = await _partner_count(db)
    for body in ({"status": "gone"}, {"name": None}, {"metadata": None}):
        response = await admin_api.patch(f"/v1/partners/{partner['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
    admin_key = await admin_api.post(
        f"/v1/partners/{partner['id']}/keys", json={"name": "k", "scope": "admin"}
    )
    assert admin_key.status_code == 422, admin_key.text
    assert (await admin_api.get("/v1/partners/ptn_nope")).status_code == 400
    assert (await admin_api.get("/v1/partners", params={"cursor": "x"})).status_code == 400
    assert await _partner_count(db) == before
    assert (await admin_api.get(f"/v1/partners/{partner['id']}")).json() == partner
