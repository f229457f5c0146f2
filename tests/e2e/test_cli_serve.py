"""`rampwire serve` on its first run, as a subprocess: it binds before it says it listens, a port
in use is one clear line, and private delivery targets are announced."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
from tests.e2e.test_readme import RAMPWIRE, STARTUP_TIMEOUT_S, Server


def test_a_port_in_use_is_one_clear_line_and_nothing_claims_to_listen(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*RAMPWIRE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "RAMPWIRE_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT_S,
        )
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert "listening" not in done.stdout
    assert "Traceback" not in done.stderr
    [line] = [text for text in done.stderr.splitlines() if text.strip()]
    assert f"port {port}" in line and "already in use" in line
    assert "--port" in line and "RAMPWIRE_PORT" in line


def test_it_says_it_listens_only_once_it_does(tmp_path: Path) -> None:
    env = {**os.environ, "RAMPWIRE_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("RAMPWIRE_DATABASE_URL", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [*RAMPWIRE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the pytest timeout bounds this
            if "rampwire listening on" in line:
                break
        else:
            raise AssertionError("serve exited without saying it listens")
        # no retry: the first request after the line is answered
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def test_private_targets_are_announced_at_start_up(tmp_path: Path) -> None:
    strict = Server(tmp_path / "strict")
    strict.stop()
    assert "private targets" not in strict.banner
    loose = Server(tmp_path / "loose", extra_env={"RAMPWIRE_ALLOW_PRIVATE_TARGETS": "1"})
    loose.stop()
    assert "private targets allowed" in loose.banner
    assert "RAMPWIRE_ALLOW_PRIVATE_TARGETS" in loose.banner
