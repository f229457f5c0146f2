"""A Saber ``ip_allowlist`` source behind a real ``rampwire serve``, sent to from 127.0.0.1 with
an ``X-Forwarded-For`` header naming an allowed address (issue 16, item 1).

Without ``RAMPWIRE_TRUSTED_PROXIES`` the header must change nothing: the peer is 127.0.0.1 and
the request is refused (uvicorn, left to itself, believes the header from 127.0.0.1). With
127.0.0.1 trusted, the right-most address that is not a trusted proxy is the client's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.support.ingest_kit import webhook

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.types import utcnow

ALLOWED = "203.0.113.0/24"
START_S = 30.0  # for the server to come up
STOP_S = 15.0  # for it to exit after SIGTERM
KEY_MARKER = "admin API key (shown once, keep it): "


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serve(data_dir: Path, **env: str) -> Iterator[httpx.Client]:
    """``rampwire serve`` on 127.0.0.1 with SQLite and ``env``; a client with its admin key.
    Stopped by its pid on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWIRE_")}
    base |= {
        "RAMPWIRE_DATA_DIR": str(data_dir),
        "RAMPWIRE_DATABASE_URL": f"sqlite:///{data_dir / 'rampwire.db'}",
        "RAMPWIRE_SERVE_WORKER": "0",
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rampwire", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=base | env,
            stdout=out,
            stderr=out,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(int(START_S / 0.1)):
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"serve did not start:\n{log.read_text(errors='replace')}")
        lines = log.read_text(errors="replace").splitlines()
        token = next(line.split(KEY_MARKER, 1)[1].strip() for line in lines if KEY_MARKER in line)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            yield client
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_S)


def _allowlist_source(client: httpx.Client) -> str:
    body = {
        "provider": "saber",
        "name": "saber behind a proxy",
        "credentials": {"mode": "ip_allowlist", "allowed_networks": [ALLOWED]},
    }
    response = client.post("/v1/sources", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _send(client: httpx.Client, source: str, forwarded_for: str | None) -> httpx.Response:
    now = utcnow()
    order = sample_order(DialectName.SABER, OrderStatus.CREATED, Side.BUY, now=now)
    request = webhook(Provider.SABER, order, OrderStatus.COMPLETED, now=now)
    headers = dict(request.headers)
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return client.post(f"/ingest/{source}", content=request.body, headers=headers)


def _logged(client: httpx.Client) -> list[str | None]:
    found = client.get("/v1/inbound").json()["data"]
    return [client.get(f"/v1/inbound/{r['id']}").json()["peer_ip"] for r in found]


def test_a_forwarded_header_from_127_0_0_1_is_not_believed_by_default(tmp_path: Path) -> None:
    with _serve(tmp_path) as client:
        source = _allowlist_source(client)
        for spoofed in ("203.0.113.7", "198.51.100.1, 203.0.113.7"):
            response = _send(client, source, spoofed)
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "127.0.0.1 is not in the allowed networks" in response.json()["detail"]
        assert _logged(client) == []
        stats = client.get(f"/v1/sources/{source}").json()["stats"]
        assert stats["rejected"] == 2


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        ("203.0.113.7", 200),  # what the proxy saw
        ("203.0.113.7, 198.51.100.9", 401),  # the client wrote the allowed address itself
        (None, 401),  # the proxy itself is not allowed
    ],
)
def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(
    tmp_path: Path, forwarded_for: str | None, status: int
) -> None:
    with _serve(tmp_path, RAMPWIRE_TRUSTED_PROXIES="127.0.0.1") as client:
        source = _allowlist_source(client)
        response = _send(client, source, forwarded_for)
        assert response.status_code == status, response.text
        assert _logged(client) == (["203.0.113.7"] if status == 200 else [])
