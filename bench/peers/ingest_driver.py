"""Ingest against the hand-written FastAPI + asyncpg handler (``ingest_handler.py``, in its own
virtualenv) and the bare ASGI app, with ``bench/ingest.py``'s load generator and the same
pre-signed requests: max verified requests/s (the best of ``ingest.Config.peak_levels`` in
flight, for each system alike), then p99 paced at half of each one's own max."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import ingest
from harness.databases import fresh_database_url
from venvs import FASTAPI_HANDLER

PROGRAM = Path(__file__).with_name("ingest_handler.py")


@dataclass(frozen=True)
class Figures:
    max: ingest.Measured
    half: ingest.Measured | None  # paced at half of max; None for the bare app


@contextlib.contextmanager
def handler(python: Path, dsn: str) -> Iterator[tuple[str, int]]:
    """The handler's server on a free port: (its URL, its pid), stopped by pid on exit."""
    port = ingest.free_port()
    proc = subprocess.Popen(
        [str(python), str(PROGRAM), dsn, str(port), ingest.REVOLUT_SECRET, ingest.TRANSAK_TOKEN],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().decode().strip() != "READY":
            raise RuntimeError("the hand-written handler did not start")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=ingest.STOP_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=ingest.STOP_S)


def master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


async def both_rates(
    urls: list[str], pids: list[int], sources: dict[str, str], config: ingest.Config, pg: str | None
) -> Figures:
    flood = await ingest.peak(urls, pids, sources, config, pg_url=pg)
    half = replace(config, rate=max(flood.rate / 2, 1.0))
    paced = await ingest.measure(urls, pids, sources, half, paced=True, pg_url=pg)
    return Figures(flood, paced)


async def bare(config: ingest.Config) -> Figures:
    with ingest.server("bare", "", tempfile.gettempdir(), master_key()) as (urls, procs):
        sources = {"transak": "x", "revolut": "y"}
        flood = await ingest.peak(urls, [p.pid for p in procs], sources, config, pg_url=None)
    return Figures(flood, None)


async def rampwire(admin_url: str, config: ingest.Config) -> Figures:
    key = master_key()
    async with fresh_database_url("postgresql", admin_url) as (url, folder):
        token = await ingest.prepare(url)
        with ingest.server("ingest", url, folder, key) as (urls, procs):
            sources = await ingest.make_sources(urls[0], token)
            return await both_rates(urls, [p.pid for p in procs], sources, config, url)


async def hand_written(admin_url: str, config: ingest.Config) -> Figures:
    python = FASTAPI_HANDLER.ensure()
    async with fresh_database_url("postgresql", admin_url) as (url, _):
        with handler(python, url) as (base, pid):
            sources = {"transak": "transak", "revolut": "revolut"}
            return await both_rates([base], [pid], sources, config, url)
