"""The simulator against rampwire's own ingest (the ASGI app), every provider, every fault class,
both back-ends: every forged request is refused, every order ends in its in-order final status,
and the grade says so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.support.ingest_kit import KITS, make_source

from rampwire.dialects import get_dialect, jose
from rampwire.dialects.base import WireRequest
from rampwire.domain.orders import Provider, Side
from rampwire.simulate import Expect, Fault, Options, Severity, grade, lifecycles, simulate

KIT_SECRETS: dict[Provider, tuple[str, ...]] = {
    Provider.REVOLUT: tuple(KITS[Provider.REVOLUT].source_credentials["secrets"]),
    Provider.SABER: tuple(KITS[Provider.SABER].source_credentials["secrets"]),
    Provider.KOYWE: (KITS[Provider.KOYWE].source_credentials["secret"],),
    Provider.TRANSAK: (KITS[Provider.TRANSAK].source_credentials["access_token"],),
    Provider.FIREBLOCKS: (
        jose.private_key_pem(KITS[Provider.FIREBLOCKS].signing.signing_key).decode(),
    ),
}


def asgi_sender(api: httpx.AsyncClient, source_id: str) -> Any:
    async def send(request: WireRequest) -> int | None:
        reply = await api.post(
            f"/ingest/{source_id}", content=request.body, headers=request.headers
        )
        return reply.status_code

    return send


SIDES = {
    # Koywe's first events name no side: a Koywe source says which side its orders are on
    Provider.KOYWE: (Side.SELL,),
}


@pytest.mark.parametrize("provider", list(Provider))
async def test_every_fault_against_rampwire_ingest(
    api: httpx.AsyncClient, provider: Provider
) -> None:
    sides = SIDES.get(provider, ())
    extra = {"options": {"default_side": sides[0].value}} if sides else {}
    source = await make_source(api, provider, **extra)
    played = len(lifecycles(get_dialect(provider.value), sides=sides))
    options = Options(
        dialect=provider.value,
        secrets=KIT_SECRETS[provider],
        orders=2 * played,
        sides=sides,
        seed=20,
        faults={f: 1.0 if f is Fault.REORDER else 0.5 for f in Fault if f is not Fault.NONE},
        concurrency=4,
    )
    result = await simulate(options, asgi_sender(api, source["id"]))

    assert not result.grade.findings, result.grade.findings
    faults = {o.shot.fault for o in result.outcomes}
    assert {Fault.WRONG_KEY, Fault.TAMPERED, Fault.DUPLICATE, Fault.REORDER} <= faults
    for outcome in result.outcomes:
        if outcome.shot.expect is Expect.REFUSE:
            assert outcome.status is not None and outcome.status >= 400, outcome
        if outcome.shot.expect is Expect.ACCEPT:
            assert outcome.status == 200, outcome

    orders = (await api.get("/v1/orders", params={"provider": provider.value, "limit": 100})).json()
    finals = {o["provider_order_id"]: o["status"] for o in orders["data"]}
    checked = grade(
        result.plan,
        result.outcomes,
        finals={s.index: finals.get(s.provider_order_id, "missing") for s in result.plan.orders},
    )
    assert checked.count(Severity.STATE) == 0, [f.message for f in checked.findings]
