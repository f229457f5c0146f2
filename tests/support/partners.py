"""Partners for tests: make one, give it a key, through the API."""

from __future__ import annotations

from typing import Any

import httpx

from rampwire.storage import Database


async def make_partner(api: httpx.AsyncClient, name: str = "Acme") -> dict[str, Any]:
    response = await api.post("/v1/partners", json={"name": name, "metadata": {"tier": "gold"}})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def partner_token(api: httpx.AsyncClient, partner_id: str, scope: str = "write") -> str:
    response = await api.post(
        f"/v1/partners/{partner_id}/keys", json={"name": "acme app", "scope": scope}
    )
    assert response.status_code == 201, response.text
    assert response.json()["partner_id"] == partner_id
    return response.json()["token"]  # type: ignore[no-any-return]


async def rows_naming(db: Database, ids: dict[str, str]) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table that names one of ``ids`` (B's objects and what hangs off
    them: timeline, events, deliveries, keys, callback, inbound log)."""
    async with db.connection() as conn:
        if db.dialect == "sqlite":
            tables = await conn.fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        else:
            tables = await conn.fetch(
                "SELECT table_name AS name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        dump = {}
        for table in tables:
            rows = [
                tuple(str(v) for v in row)
                for row in await conn.fetch(f"SELECT * FROM {table['name']}")
            ]
            dump[table["name"]] = sorted(
                row for row in rows if any(i in v for v in row for i in ids.values())
            )
        return dump
