"""The real CLI and server as subprocesses: the README walk-through, keys, JSON logs."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
RAMPWIRE = [sys.executable, "-m", "rampwire"]
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RAMPWIRE_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.env.pop("RAMPWIRE_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [*RAMPWIRE, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = self._wait()

    def _wait(self) -> str:
        lines = []
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        else:
            raise RuntimeError("serve did not start")
        os.set_blocking(self.proc.stdout.fileno(), False)
        for line in self.proc.stdout:
            lines.append(line)
        return "".join(lines)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        return stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    yield running
    running.stop()


def cli(server: Server, *args: str) -> str:
    done = subprocess.run(
        [*RAMPWIRE, *args], env=server.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", readme, re.S
    )
    assert block, "README.md lost its walk-through block"
    return block.group(1)


def test_the_readme_walkthrough_works_as_written(server: Server, tmp_path: Path) -> None:
    assert "admin API key (shown once, keep it): rw_" in server.banner
    assert server.url in server.banner
    script = walkthrough().replace(".venv/bin/rampwire", f"{sys.executable} -m rampwire")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**server.env, "RAMPWIRE_URL": server.url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    outputs = [json.loads(line) for line in lines[:6]]  # curl's answers, then the CLI's (6.)
    paid, completed, timeline, refused, partner_deliveries, hidden = outputs
    header, partner_order, exit_code = lines[6:]
    assert header.split()[:3] == ["ID", "STATUS", "SIDE"]
    assert partner_order.startswith("ord_") and "sell" in partner_order.split()
    assert exit_code == "exit code 1"
    assert "Error: 404 Not found" in done.stderr and "Traceback" not in done.stderr
    assert paid["order"]["status"] == "payment_received"
    assert completed["order"]["status"] == "completed"
    assert completed["event"]["type"] == "order.completed"
    assert [e["to_status"] for e in timeline["data"]] == [
        "created",
        "payment_received",
        "completed",
    ]
    assert refused["status"] == 409 and refused["type"].endswith("illegal_transition")
    (delivery,) = partner_deliveries["data"]  # the partner's order, to the partner's endpoint
    assert (
        delivery["event_type"] == "order.created"
        and delivery["order_id"] != completed["order"]["id"]
    )
    assert hidden["status"] == 404


def test_keys_cli_and_first_start_only_admin_key(server: Server) -> None:
    line = cli(server, "keys", "create", "--name", "ops", "--scope", "read")
    key_id, scope, token = line.strip().split("\t")
    assert scope == "read" and token.startswith("rw_")
    listing = cli(server, "keys", "list")
    assert key_id in listing and token not in listing
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v1/orders", headers=headers).status_code == 200
    assert (
        httpx.post(f"{server.url}/v1/orders", headers=headers, json={"side": "buy"}).status_code
        == 403
    )
    cli(server, "keys", "revoke", key_id)
    assert httpx.get(f"{server.url}/v1/orders", headers=headers).status_code == 401

    server.stop()
    again = Server(Path(server.env["RAMPWIRE_DATA_DIR"]))
    try:
        assert "admin API key" not in again.banner
    finally:
        again.stop()


def test_json_logs_when_asked(tmp_path: Path) -> None:
    running = Server(tmp_path, extra_env={"RAMPWIRE_LOG_FORMAT": "json"})
    stderr = running.stop()
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)


def test_bad_settings_are_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [*RAMPWIRE, "migrate"],
        env={**os.environ, "RAMPWIRE_PORT": "eighty", "RAMPWIRE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "RAMPWIRE_PORT must be an integer" in done.stderr
    assert "Traceback" not in done.stderr
