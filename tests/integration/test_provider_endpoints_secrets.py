"""Provider endpoints: bad provider secrets refused on creation and on rotation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.support.provider_endpoints import (
    PROVIDERS,
    assert_problem,
    counts,
    make_endpoint,
)

from rampwire.storage import Database

# --- 6: bad secrets, on creation (beyond test_endpoints_api) and on rotation ---------------

CREATE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("saber-secret-too-long", {"dialect": "saber", "secret": "s" * 2049}),
    ("koywe-secret-one-too-short", {"dialect": "koywe", "secret": "k" * 15}),
    ("transak-secret-control-character", {"dialect": "transak", "secret": "token\x07" * 4}),
    ("revolut-secret-empty", {"dialect": "revolut", "secret": ""}),
    ("revolut-secret-not-a-string", {"dialect": "revolut", "secret": 1234567890123456}),
    ("fireblocks-secret-empty", {"dialect": "fireblocks", "secret": ""}),
]


async def test_bad_provider_secrets_on_create_are_refused_and_the_limits_accepted(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    before = await counts(db)
    for name, change_ in CREATE_CASES:
        with subtests.test(name):
            body = {"url": "http://127.0.0.1:9/hooks", **change_}
            assert_problem(await api.post("/v1/endpoints", json=body), "secret")
            assert await counts(db) == before
    limits = (("saber", "s" * 16), ("koywe", "k" * 2048), ("transak", "~!#$%&*+" * 2))
    for dialect, secret in limits:
        created = await make_endpoint(
            api, "http://127.0.0.1:9/hooks", dialect=dialect, secret=secret
        )
        assert created["secret"] == secret
        listed = (await api.get(f"/v1/endpoints/{created['id']}/secret")).json()["secrets"]
        assert [s["secret"] for s in listed] == [secret]


ROTATE_CASES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("revolut-too-short", "revolut", {"secret": "wsk_short"}, "secret"),
    ("revolut-too-long", "revolut", {"secret": "w" * 2049}, "secret"),
    ("revolut-not-a-string", "revolut", {"secret": 7}, "secret"),
    ("saber-tab", "saber", {"secret": "tab\tinside-the-secret"}, "secret"),
    ("koywe-space", "koywe", {"secret": "a space inside the secret"}, "secret"),
    ("transak-non-ascii", "transak", {"secret": "é" * 20}, "secret"),
    ("transak-nul", "transak", {"secret": "nul\x00" * 5}, "secret"),
    ("fireblocks-no-body", "fireblocks", None, "dialect"),
    ("fireblocks-empty-body", "fireblocks", {}, "dialect"),
    ("fireblocks-a-secret", "fireblocks", {"secret": "x" * 32}, "secret"),
]


async def test_bad_rotations_are_refused_naming_the_field_and_change_nothing(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    endpoints = {
        name: await make_endpoint(api, "http://127.0.0.1:9/hooks", dialect=name)
        for name in PROVIDERS
    }
    assert endpoints["fireblocks"]["secret"] is None

    async def state() -> dict[str, Any]:
        return {
            name: (
                (await api.get(f"/v1/endpoints/{e['id']}")).json(),
                (await api.get(f"/v1/endpoints/{e['id']}/secret")).json(),
            )
            for name, e in endpoints.items()
        }

    before, rows = await state(), await counts(db)
    assert before["fireblocks"][1] == {"secrets": []}
    for name, dialect, body, field in ROTATE_CASES:
        with subtests.test(name):
            url = f"/v1/endpoints/{endpoints[dialect]['id']}/secret/rotate"
            response = await (api.post(url) if body is None else api.post(url, json=body))
            assert_problem(response, field)
            assert await state() == before
            assert await counts(db) == rows


async def test_rotating_to_an_empty_secret_is_refused_like_creating_with_one(
    api: httpx.AsyncClient,
) -> None:
    refused = await api.post(
        "/v1/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "dialect": "revolut", "secret": ""},
    )
    assert_problem(refused, "secret")
    endpoint = await make_endpoint(api, "http://127.0.0.1:9/hooks", dialect="revolut")
    secret_url = f"/v1/endpoints/{endpoint['id']}/secret"
    before = (await api.get(secret_url)).json()
    assert_problem(await api.post(f"{secret_url}/rotate", json={"secret": ""}), "secret")
    assert (await api.get(secret_url)).json() == before
