"""Real Chromium (Debian's, driven headless by Playwright) against a real ``rampwire serve``.

``scripts/ensure-chromium.sh`` installs the browser before ``make test``; where it could not and
CI is not set, these tests skip with the reason; in CI they fail instead. On a failure each
page the test visited is saved as a PNG in the test's output folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.processes import Processes, environment, free_port, processes

CHROMIUM = os.environ.get("RAMPWIRE_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN_KEY = re.compile(r"admin API key \(shown once, keep it\): (\S+)")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        reason = (
            f"no Chromium at {CHROMIUM}: run scripts/ensure-chromium.sh (apt-get install chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


class Served:
    def __init__(
        self, url: str, admin_key: str, data_dir: Path, proc: subprocess.Popen[bytes]
    ) -> None:
        self.url = url
        self.admin_key = admin_key
        self.data_dir = data_dir
        self.proc = proc

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=10
        )


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as started:
        yield started


async def serve(procs: Processes, tmp_path: Path, **env: str) -> Served:
    """A ``rampwire serve`` on a free port with its own data folder, and ``env`` set."""
    port = free_port()
    data = tmp_path / f"data-{port}"
    data.mkdir()
    proc = procs.start(
        "serve", environment(data, **env), "serve", "--host", "127.0.0.1", "--port", str(port)
    )
    url = f"http://127.0.0.1:{port}"
    await procs.healthy(url, proc)
    await procs.wait_for_line(proc, "admin API key")
    found = ADMIN_KEY.search(procs.log(proc))
    assert found is not None, procs.log(proc)
    return Served(url, found.group(1), data, proc)


@pytest.fixture
async def served(tmp_path: Path, procs: Processes) -> AsyncIterator[Served]:
    found = await serve(procs, tmp_path)
    yield found
    await procs.stop(found.proc)


@pytest.fixture
async def chromium(chromium_path: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()
