"""``rampwire.testing``: the fixture plays a provider against an ASGI app in-process (rampwire's
own, on both back-ends, and a naive one) or a URL, and returns the grade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tests.support.ingest_kit import KITS, make_source
from tests.support.receivers import receiver

from rampwire.api import create_app
from rampwire.domain.orders import Provider
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.testing import Severity, Simulator, rampwire_simulate

__all__ = ["rampwire_simulate"]  # the fixture, imported as a conftest's pytest_plugins would

TOKEN = KITS[Provider.TRANSAK].source_credentials["access_token"]


async def naive_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_rampwire_ingest_in_process_has_no_findings(
    rampwire_simulate: Simulator, api: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    source = await make_source(api, Provider.TRANSAK)
    grade = await rampwire_simulate(
        create_app(settings, db=db),
        path=f"/ingest/{source['id']}",
        provider="transak",
        secrets=[TOKEN],
        faults={"all": 0.4},
        orders=8,
        seed=2,
    )
    assert grade.findings == ()
    assert {row.fault.value for row in grade.rows} >= {"none", "alg_none"}


async def test_a_naive_app_has_security_findings(
    rampwire_simulate: Simulator, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'provider = "revolut"\n[[orders]]\npath = "happy"\nfaults = { stale = 1 }\n'
    )
    grade = await rampwire_simulate(naive_app, scenario=scenario, secrets=["wsk_s"])
    assert grade.count(Severity.SECURITY) == len(grade.findings) == 3  # one per step
    assert grade.exit_code() == 1


async def test_a_url(rampwire_simulate: Simulator) -> None:
    async with receiver() as hooks:
        grade = await rampwire_simulate(hooks.url, provider="koywe", secrets=["k"], orders=2)
    assert grade.findings == ()
    assert len(hooks.requests) == grade.requests
