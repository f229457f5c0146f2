"""``rampwire serve`` as a subprocess on a given database, with its first admin key: for the
client and the CLI over the API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import environment, free_port, processes

_ADMIN_KEY = re.compile(r"admin API key \(shown once, keep it\): (\S+)")


@dataclass(frozen=True)
class Served:
    url: str
    admin_key: str
    env: dict[str, str]  # the server's environment (data dir, database)


@asynccontextmanager
async def served(tmp_path: Path, database_url: str, **extra: str) -> AsyncIterator[Served]:
    """A running server on ``database_url`` (killed by its pid at the end)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = environment(tmp_path, RAMPWIRE_DATABASE_URL=database_url, **extra)
    with processes(tmp_path) as started:
        proc = started.start("serve", env, "serve", "--host", "127.0.0.1", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        await started.healthy(url, proc)
        await started.wait_for_line(proc, "admin API key")
        found = _ADMIN_KEY.search(started.log(proc))
        assert found is not None, started.log(proc)
        try:
            yield Served(url=url, admin_key=found.group(1), env=env)
        finally:
            await asyncio.wait_for(started.stop(proc), 30)
