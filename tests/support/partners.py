"""Partners for tests: make one, give it a key, through the API."""

from __future__ import annotations

from typing import Any

import httpx


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
