"""`rampwire simulate` against a real `rampwire serve`: a scenario file played into an ingest
source named by its id, the secrets read from rampwire's database, the final states read back
from rampwire's order API."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
from tests.support.ingest_kit import KITS
from tests.support.processes import environment, free_port, processes

from rampwire.domain.orders import Provider

SCENARIO = """
provider = "transak"
seed = 11

[[orders]]
id = "hard-case-refund"
side = "sell"
steps = ["ORDER_CREATED", "ORDER_PROCESSING", "ORDER_FAILED/FAILED", "ORDER_REFUNDED/REFUNDED"]
fiat_amount = "999.99"
faults = { stale = 1.0, tampered = 1.0, duplicate = 1.0, alg_none = 1.0 }

[[orders]]
id = "hard-case-reordered"
path = "happy"
faults = { reorder = 1.0, hs256_other_key = 1.0 }
"""


async def simulate_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rampwire", "simulate", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_scenario_into_a_rampwire_source(tmp_path: Path) -> None:
    env = environment(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    scenario = tmp_path / "hard-cases.toml"
    scenario.write_text(SCENARIO)
    with processes(tmp_path) as started:
        serve = started.start("serve", env, "serve", "--port", str(port))
        await started.wait_for_line(serve, "admin API key")
        await started.healthy(url, serve)
        token = started.log(serve).split("admin API key (shown once, keep it): ")[1].split()[0]
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            body = {
                "provider": "transak",
                "name": "t",
                "credentials": KITS[Provider.TRANSAK].source_credentials,
            }
            source = (await api.post("/v1/sources", json=body)).json()

        code, out, err = await simulate_cli(
            env, "--scenario", str(scenario), "--to", url, "--source", source["id"],
            "--check-state", "rampwire", "--api-key", token, "--json",
        )  # fmt: skip
        assert code == 0, err + out
        [grade] = json.loads(out)
        assert grade["summary"] == {"security": 0, "reliability": 0, "state": 0}
        faults = {row["fault"] for row in grade["table"]}
        assert {
            "stale",
            "tampered",
            "duplicate",
            "alg_none",
            "reorder",
            "hs256_other_key",
        } <= faults

        code, out, err = await simulate_cli(
            env, "transak", "--to", f"{url}/ingest/{source['id']}", "--secret",
            KITS[Provider.TRANSAK].source_credentials["access_token"], "--orders", "12",
            "--fault", "all=0.3", "--check-state", "rampwire", "--api-key", token, "--quiet",
        )  # fmt: skip
        assert code == 0, err + out
        assert "findings: none" in out

        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            orders = (
                await api.get("/v1/orders", params={"provider": "transak", "limit": 100})
            ).json()
        by_id = {o["provider_order_id"]: o for o in orders["data"]}
        assert by_id["hard-case-refund"]["status"] == "refunded"
        assert by_id["hard-case-refund"]["fiat"]["amount"] == "999.99"
        assert by_id["hard-case-reordered"]["status"] == "completed"
        await started.stop(serve)
