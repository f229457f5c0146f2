"""No secret in clear at rest or in the logs, on both back-ends, through a real ``rampwire
serve`` logging at DEBUG (its access log on).

Distinct secrets are planted through the API (an endpoint's signing secret and a custom header
value, a Transak source's access token, a Saber source's URL token, the authorization callback's
bearer token) and the CLI (an API key); ingest and delivery run (the Saber token sent in the
``X-Webhook-Token`` header and in the URL, the callback called); then the SQLite file with its
``-wal`` and ``-shm``, or a ``pg_dump`` of the test database, and every line serve logged, are
searched for each secret in clear. The master key must not be there either.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from tests.support.ingest_kit import webhook
from tests.support.receivers import receiver

from rampwire.dialects import TransakCredentials, get_dialect
from rampwire.dialects.base import DialectName, OutboundEvent
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.ids import new_id
from rampwire.settings import Secret
from rampwire.types import utcnow

RAMPWIRE = [sys.executable, "-m", "rampwire"]
START_S = 30.0  # for serve to come up
STOP_S = 15.0  # for serve to exit after SIGTERM
DELIVER_S = 30.0  # for the delivery to succeed


def planted(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Planted:
    signing_secret: str = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    header_value: str = planted("hdr")
    transak_token: str = planted("transak")
    saber_token: str = planted("saber")
    callback_bearer: str = planted("callback")

    def all(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass
class Server:
    url: str
    admin_token: str
    proc: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWIRE_")}
    return env | {
        "RAMPWIRE_DATA_DIR": str(data_dir),
        "RAMPWIRE_DATABASE_URL": database_url,
        "RAMPWIRE_ALLOW_PRIVATE_TARGETS": "1",  # the receivers listen on 127.0.0.1
        "RAMPWIRE_LOG_LEVEL": "DEBUG",
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def serve(data_dir: Path, database_url: str) -> Iterator[Server]:
    """``rampwire serve`` at DEBUG on 127.0.0.1; its logs (stderr) apart from what it prints
    for the operator (stdout: the first admin key); stopped by its pid."""
    port = _free_port()
    out, log = data_dir / "serve.out", data_dir / "serve.log"
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen(
            [*RAMPWIRE, "serve", "--port", str(port)],
            env=_env(data_dir, database_url),
            stdout=stdout,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        marker = "admin API key (shown once, keep it): "
        token = out.read_text().split(marker, 1)[1].split()[0]
        yield Server(url=url, admin_token=token, proc=proc, log=log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_S)


def cli_key(data_dir: Path, database_url: str) -> str:
    done = subprocess.run(
        [*RAMPWIRE, "keys", "create", "--name", "scan", "--scope", "write"],
        env=_env(data_dir, database_url),
        capture_output=True,
        check=True,
        timeout=START_S,
    )
    return done.stdout.decode().split("\t")[2].strip()


async def exercise(server: Server, secret: Planted) -> None:
    """Plant every secret through the API, then ingest and deliver."""
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with (
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as api,
        receiver() as hooks,
        receiver() as partner,
    ):
        endpoint = await api.post(
            "/v1/endpoints",
            json={
                "url": hooks.url,
                "secret": secret.signing_secret,
                "headers": {"X-Api-Key": secret.header_value},
            },
        )
        assert endpoint.status_code == 201, endpoint.text
        callback = await api.put(
            "/v1/authorization",
            json={
                "url": partner.url,
                "auth": {"method": "bearer", "token": secret.callback_bearer},
                "operations": ["read"],
            },
        )
        assert callback.status_code == 200, callback.text
        transak = await api.post(
            "/v1/sources",
            json={
                "provider": "transak",
                "name": "transak",
                "credentials": {"access_token": secret.transak_token},
            },
        )
        saber = await api.post(
            "/v1/sources",
            json={
                "provider": "saber",
                "name": "saber",
                "credentials": {"mode": "token", "url_token": secret.saber_token},
                "options": {"default_side": "buy"},
            },
        )
        assert transak.status_code == saber.status_code == 201, (transak.text, saber.text)

        now = utcnow()
        order = sample_order(DialectName.TRANSAK, OrderStatus.CREATED, Side.SELL, now=now)
        event = OutboundEvent(id=new_id("evt"), type="order.created", created_at=now)
        signing = TransakCredentials(access_tokens=(Secret(secret.transak_token),))
        request = get_dialect("transak").encode(event, order, signing, now=now)
        got = await api.post(
            f"/ingest/{transak.json()['id']}", content=request.body, headers=request.headers
        )
        assert got.status_code == 200, got.text
        saber_id = saber.json()["id"]
        for step, in_header in enumerate((True, False)):
            at = now + timedelta(seconds=step)
            order = sample_order(DialectName.SABER, OrderStatus.CREATED, Side.BUY, now=at)
            request = webhook(Provider.SABER, order, OrderStatus.CREATED, now=at)
            sent = dict(request.headers)
            path = f"/ingest/{saber_id}"
            if in_header:
                sent["X-Webhook-Token"] = secret.saber_token
            else:
                path += f"/{secret.saber_token}"
            got = await api.post(path, content=request.body, headers=sent)
            assert got.status_code == 200, got.text
            shown = await api.get(f"/v1/inbound/{got.json()['id']}")
            assert secret.saber_token not in shown.text

        created = await api.post(
            "/v1/orders", json={"side": "buy", "references": {"user_email": "ana@example.com"}}
        )
        assert created.status_code == 201, created.text
        await api.get(f"/v1/orders/{created.json()['id']}")  # asks the partner: a read
        await partner.wait_for(1, timeout=DELIVER_S)
        assert partner.requests[0].headers["Authorization"] == f"Bearer {secret.callback_bearer}"
        delivered = await hooks.wait_for(1, timeout=DELIVER_S)
        assert delivered[0].headers["X-Api-Key"] == secret.header_value
        endpoint_id = endpoint.json()["id"]
        async with asyncio.timeout(DELIVER_S):
            while True:  # the attempts are recorded (written) after the answer
                listed = await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")
                if any(d["status"] == "succeeded" for d in listed.json()["data"]):
                    break
                await asyncio.sleep(0.1)


def found_in(blob: bytes, secrets_by_name: dict[str, str]) -> list[str]:
    return [name for name, value in secrets_by_name.items() if value.encode() in blob]


def sqlite_files(data_dir: Path) -> bytes:
    return b"".join(
        path.read_bytes() for path in sorted(data_dir.glob("rampwire.db*")) if path.is_file()
    )


def pg_dump(database_url: str) -> bytes:
    tool = shutil.which("pg_dump")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("pg_dump is required in CI (Debian: postgresql-client)")
        pytest.skip("pg_dump is not installed (Debian: postgresql-client)")
    return subprocess.run(
        [tool, "--no-owner", database_url], capture_output=True, check=True, timeout=60
    ).stdout


def scan(data_dir: Path, database_url: str, storage: Callable[[], bytes]) -> None:
    secret = Planted()
    with serve(data_dir, database_url) as server:
        api_key = cli_key(data_dir, database_url)
        asyncio.run(exercise(server, secret))
        wanted = {
            **secret.all(),
            "admin API key": server.admin_token,
            "CLI API key": api_key,
            "master key": (data_dir / "master.key").read_text().strip(),
        }
        running = storage()  # the SQLite WAL as it is while serving
    stored = running + storage()
    assert found_in(stored, wanted) == []
    logged = server.log.read_bytes()
    assert b"uvicorn.access" in logged and b"/ingest/" in logged  # DEBUG: the access log is on
    assert found_in(logged, wanted) == []


def test_no_secret_in_clear_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rampwire.db'}"
    scan(tmp_path, url, lambda: sqlite_files(tmp_path))


@pytest.mark.postgres
def test_no_secret_in_clear_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    scan(tmp_path, postgres_url, lambda: pg_dump(postgres_url))
