"""`rampwire listen` end to end: a real `rampwire serve` (SQLite and PostgreSQL), the real CLI
as a subprocess forwarding to a real local receiver, orders made and changed through the API.
What arrives is checked by independent verifiers with the secret the CLI printed; a killed
listener's session is gone after its (short) idle timeout, a Ctrl-C'd one at once."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from tests.support.partners import make_partner, partner_token
from tests.support.processes import Processes, environment, free_port, processes
from tests.support.receivers import receiver

from rampwire.receiver import ProviderVerifier
from rampwire.storage import open_database

IDLE_S = 2  # RAMPWIRE_LISTEN_IDLE_SECONDS for these servers
WALLET = "0x" + "ab" * 20


@dataclass
class Served:
    url: str
    token: str
    env: dict[str, str]
    database_url: str
    started: Processes
    proc: subprocess.Popen[bytes]


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[Served]:
    env = environment(
        tmp_path,
        RAMPWIRE_DATABASE_URL=database_url,
        RAMPWIRE_LISTEN_IDLE_SECONDS=str(IDLE_S),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as started:
        proc = started.start("serve", env, "serve", "--port", str(port))
        await started.wait_for_line(proc, "admin API key")
        await started.healthy(url, proc)
        token = started.log(proc).split("admin API key (shown once, keep it): ")[1].split()[0]
        yield Served(url, token, env, database_url, started, proc)


def listen(served: Served, *args: str, key: str | None = None) -> subprocess.Popen[bytes]:
    env = {**served.env, "RAMPWIRE_URL": served.url, "RAMPWIRE_API_KEY": key or served.token}
    return served.started.start("listen", env, "listen", *args)


async def ready(served: Served, proc: subprocess.Popen[bytes]) -> tuple[str, str | None]:
    """The session id and secret the listener printed."""
    await served.started.wait_for_line(proc, "Ctrl-C to close it")
    out = served.started.log(proc)
    session = re.search(r"Listen session (lsn_\w+)", out)
    secret = re.search(r"signing secret is (\S+)", out)
    assert session is not None, out
    return session[1], None if secret is None else secret[1]


async def rows(database_url: str, sql: str) -> int:
    db = open_database(database_url)
    await db.open()
    try:
        async with db.connection() as conn:
            return int(await conn.fetchval(sql))
    finally:
        await db.close()


async def payloads(database_url: str, order_id: str) -> dict[str, bytes]:
    """The order's events as stored in the outbox, by id."""
    db = open_database(database_url)
    await db.open()
    try:
        async with db.connection() as conn:
            found = await conn.fetch("SELECT id, payload FROM events WHERE order_id = $1", order_id)
    finally:
        await db.close()
    return {row["id"]: row["payload"].encode() for row in found}


def api(served: Served, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key or served.token}"}
    return httpx.AsyncClient(base_url=served.url, headers=headers, timeout=10.0)


async def make_order(client: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    made = await client.post("/v1/orders", json={"side": "buy", **fields})
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def change(client: httpx.AsyncClient, order_id: object, status: str) -> None:
    changed = await client.post(f"/v1/orders/{order_id}/changes", json={"status": status})
    assert changed.status_code == 200, changed.text


async def test_events_are_forwarded_signed_and_ctrl_c_closes_the_session(served: Served) -> None:
    async with receiver() as local, api(served) as client:
        proc = listen(served, "--forward-to", local.url, "--events", "order.*")
        session_id, secret = await ready(served, proc)
        order = await make_order(client)
        await change(client, order["id"], "processing")
        await change(client, order["id"], "completed")
        got = await local.wait_for(3)
        stored = await payloads(served.database_url, str(order["id"]))
        # Ctrl-C: the session is deleted at once, nothing left for it
        assert await served.started.stop(proc, signal.SIGINT) == 0
        assert (await client.get(f"/v1/listen-sessions/{session_id}")).status_code == 404
    assert secret is not None and secret.startswith("whsec_")
    verifier = Webhook(secret)
    received = [verifier.verify(r.body, r.headers) for r in got]
    assert [e["type"] for e in received] == ["order.created", "order.processing", "order.completed"]
    assert {e["data"]["order"]["id"] for e in received} == {order["id"]}
    # byte for byte the stored envelope a delivery would send, with its event id as webhook-id
    for request in got:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert request.body == stored[headers["webhook-id"]]
    out = served.started.log(proc)
    lines = [line for line in out.splitlines() if str(order["id"]) in line]
    assert len(lines) == 3 and all("[200]" in line and " ms " in line for line in lines), out
    assert "order.completed" in lines[-1] and "completed" in lines[-1].split("order.completed")[1]
    assert f"listen session {session_id} closed" in out
    assert await rows(served.database_url, "SELECT count(*) FROM listen_sessions") == 0


async def test_a_session_is_served_by_any_process_of_the_database(served: Served) -> None:
    """Sessions live in the database: a listener on a second serve process hears the orders
    the first one writes, and the first one sees (and closes) the session the second made."""
    port = free_port()
    other_url = f"http://127.0.0.1:{port}"
    other = served.started.start("serve", served.env, "serve", "--port", str(port))
    await served.started.healthy(other_url, other)
    on_other = Served(
        other_url, served.token, served.env, served.database_url, served.started, other
    )
    async with receiver() as local, api(served) as client:
        proc = listen(on_other, "--forward-to", local.url)
        session_id, secret = await ready(on_other, proc)
        order = await make_order(client)  # through the first process
        [request] = await local.wait_for(1)
        assert (await client.get(f"/v1/listen-sessions/{session_id}")).status_code == 200
        assert (await client.delete(f"/v1/listen-sessions/{session_id}")).status_code == 204
        assert await asyncio.to_thread(proc.wait, 30) == 1  # its stream ends: closed
    assert secret is not None
    assert (
        Webhook(secret).verify(request.body, request.headers)["data"]["order"]["id"] == order["id"]
    )
    assert "the session was closed" in served.started.log(proc)


async def test_a_killed_listener_leaves_nothing_once_its_session_expires(served: Served) -> None:
    async with receiver() as local, api(served) as client:
        proc = listen(served, "--forward-to", local.url)
        session_id, _ = await ready(served, proc)
        await make_order(client)
        await local.wait_for(1)
        proc.kill()  # kill -9: no goodbye
        proc.wait()
        await make_order(client)  # events go on being written; none is kept for the session
        assert await rows(served.database_url, "SELECT count(*) FROM listen_sessions") == 1
        async with asyncio.timeout(IDLE_S + 20):  # the sweeper deletes it, unasked
            while await rows(served.database_url, "SELECT count(*) FROM listen_sessions"):
                await asyncio.sleep(0.2)
        assert (await client.get(f"/v1/listen-sessions/{session_id}")).status_code == 404
    assert await rows(served.database_url, "SELECT count(*) FROM deliveries") == 0
    assert len(local.requests) == 1


async def test_a_dialect_session_signs_the_providers_way(served: Served) -> None:
    async with receiver() as local, api(served) as client:
        proc = listen(served, "--forward-to", local.url, "--dialect", "transak")
        _, secret = await ready(served, proc)
        order = await make_order(
            client,
            fiat={"currency": "EUR", "amount": "100"},
            crypto={"asset": "USDT", "network": "ETH", "amount": "98.5"},
            wallet_address=WALLET,
        )
        await change(client, order["id"], "completed")
        got = await local.wait_for(2)
        await served.started.stop(proc, signal.SIGTERM)
    assert secret is not None
    verifier = ProviderVerifier("transak", [secret])
    statuses = []
    for request in got:
        [event] = verifier.verify(request.headers, request.body)
        statuses.append(event.status.value if event.status else None)
    # Transak has no "created": its first state reads back as awaiting_payment
    assert statuses == ["awaiting_payment", "completed"]


async def test_a_partner_key_hears_only_its_partners_orders(served: Served) -> None:
    async with api(served) as operator:
        a, b = await make_partner(operator, "A"), await make_partner(operator, "B")
        a_key, b_key = (
            await partner_token(operator, a["id"]),
            await partner_token(operator, b["id"]),
        )
        proc = listen(served, "--print-json", key=a_key)
        operator_view = listen(served, "--print-json", "--partner", b["id"])
        await ready(served, proc)
        await ready(served, operator_view)
        async with api(served, b_key) as as_b, api(served, a_key) as as_a:
            theirs = await make_order(as_b)
            mine = await make_order(as_a)
            last = await make_order(as_b)
        async with asyncio.timeout(20):
            while str(last["id"]) not in served.started.log(operator_view):
                await asyncio.sleep(0.1)
            while str(mine["id"]) not in served.started.log(proc):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # B's last order was made after A's: time to (wrongly) arrive
        await served.started.stop(proc, signal.SIGINT)
        await served.started.stop(operator_view, signal.SIGINT)
    heard = served.started.log(proc)
    assert str(theirs["id"]) not in heard and str(last["id"]) not in heard
    printed = [json.loads(line) for line in heard.splitlines() if line.startswith("{")]
    assert [e["data"]["order"]["id"] for e in printed] == [mine["id"]]
    other = served.started.log(operator_view)
    assert str(theirs["id"]) in other and str(mine["id"]) not in other


async def test_a_bad_filter_is_refused_before_anything_starts(served: Served) -> None:
    proc = listen(served, "--print-json", "--dialect", "nope")
    assert await asyncio.to_thread(proc.wait, 30) == 1
    assert "not a dialect" in served.started.log(proc)
    assert await rows(served.database_url, "SELECT count(*) FROM listen_sessions") == 0


async def test_the_listener_reconnects_after_a_restart_and_misses_nothing(tmp_path: Path) -> None:
    """The server goes away (kill -9) and comes back on the same port: the listener opens its
    stream again with the last event id, and the order made before it is back is forwarded;
    nothing is forwarded twice."""
    database_url = f"sqlite:///{tmp_path / 'rampwire.db'}"
    env = environment(tmp_path, RAMPWIRE_DATABASE_URL=database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as started:
        first = started.start("serve", env, "serve", "--port", str(port))
        await started.wait_for_line(first, "admin API key")
        await started.healthy(url, first)
        token = started.log(first).split("admin API key (shown once, keep it): ")[1].split()[0]
        served = Served(url, token, env, database_url, started, first)
        async with receiver() as local:
            proc = listen(served, "--forward-to", local.url)
            await ready(served, proc)
            async with api(served) as client:
                before = await make_order(client)
            await local.wait_for(1)
            first.kill()
            first.wait()
            second = started.start("serve", env, "serve", "--port", str(port))
            await started.healthy(url, second)
            async with api(served) as client:
                after = await make_order(client)
            got = await local.wait_for(2, timeout=40.0)
            await asyncio.sleep(1.0)  # time for a repeat to (wrongly) arrive
            await started.stop(proc, signal.SIGINT)
    ids = [json.loads(r.body)["data"]["order"]["id"] for r in got]
    assert ids == [before["id"], after["id"]], ids
    assert "reconnecting" in started.log(proc)
