"""The real CLI as subprocesses: start ``rampwire serve`` / ``rampwire worker`` with their own
environment and log file, wait for them, kill or stop them by pid, and never leave one behind."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

RAMPWIRE = [sys.executable, "-m", "rampwire"]
START_S = 30.0  # for a process to come up
STOP_S = 30.0  # for a process to exit after SIGTERM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any RAMPWIRE_* setting of its own, plus ``extra``;
    webhooks may go to 127.0.0.1, where the tests' receivers listen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWIRE_")}
    return {
        **env,
        "RAMPWIRE_DATA_DIR": str(data_dir),
        "RAMPWIRE_ALLOW_PRIVATE_TARGETS": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Processes:
    """Processes started by one test or scenario, each logging to its own file."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{name}-{len(self.running)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*RAMPWIRE, *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.running.append((proc, log))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return next(path for p, path in self.running if p is proc).read_text(errors="replace")

    async def wait_for_line(self, proc: subprocess.Popen[bytes], text: str) -> None:
        async with asyncio.timeout(START_S):
            while text not in self.log(proc):
                if proc.poll() is not None:
                    raise RuntimeError(f"exited early:\n{self.log(proc)}")
                await asyncio.sleep(0.05)

    async def healthy(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        """Wait until ``url``/healthz answers 200."""
        async with asyncio.timeout(START_S), httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited:\n{self.log(proc)}")
                try:
                    if (await client.get(f"{url}/healthz", timeout=0.5)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    async def stop(self, proc: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` to this process (by its pid) and wait for it to exit."""
        if proc.poll() is None:
            proc.send_signal(signum)
        return await asyncio.to_thread(proc.wait, STOP_S)

    def kill_all(self) -> None:
        for proc, _ in self.running:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@contextmanager
def processes(logs: Path) -> Iterator[Processes]:
    started = Processes(logs)
    try:
        yield started
    finally:
        started.kill_all()
