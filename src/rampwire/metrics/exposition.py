"""Serving the metrics: gauges sampled at scrape time, the text rendering, the bearer-token
check for ``/metrics`` on the API, and the plain listener on ``RAMPWIRE_METRICS_ADDR``.

Why a registry per process and no ``PROMETHEUS_MULTIPROC_DIR``: ``serve`` and each ``worker``
are independent processes (no pre-fork server sharing one port), possibly on different hosts,
so each is its own Prometheus target, which is Prometheus's own model; the multiprocess mode
would add an mmap file write under a lock to every increment, files of dead processes to clean
up, a directory every process must share, and an environment variable read at import time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .meters import Metrics

log = logging.getLogger("rampwire.metrics")

SAMPLE_EVERY_S = 5.0  # a database-backed gauge is read at most this often, however many scrapes
PATH = "/metrics"

Reading = Callable[[], Awaitable[Mapping[str, float]]]


class Sampled(Collector):
    """Gauges whose values come from elsewhere (the database, the pool), read by
    :meth:`refresh` before a scrape, at most every ``every_s``; a failed read keeps the last
    values (and is logged once per failure run), so a scrape never fails for it."""

    def __init__(
        self, gauges: Mapping[str, str], read: Reading, *, every_s: float = SAMPLE_EVERY_S
    ) -> None:
        self._help = dict(gauges)  # name -> help
        self._read = read
        self._every_s = every_s
        self._values: dict[str, float] = {}
        self._read_at = -float("inf")
        self._failing = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < self._every_s:
                return
            try:
                values = await self._read()
            except Exception as exc:  # a scrape reports what it has; the cause is logged
                if not self._failing:
                    log.warning("reading %s failed: %s", ", ".join(self._help), exc)
                self._failing = True
                return
            self._failing = False
            self._values = dict(values)
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        for name, text in self._help.items():
            if name in self._values:
                yield GaugeMetricFamily(name, text, value=self._values[name])


async def render(metrics: Metrics, sampled: list[Sampled]) -> bytes:
    """The Prometheus text format of everything this process counts."""
    for collector in sampled:
        await collector.refresh()
    return generate_latest(metrics.registry)


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries the metrics bearer token."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


async def serve(
    metrics: Metrics, sampled: list[Sampled], host: str, port: int, stop: asyncio.Event
) -> None:
    """``GET /metrics`` on its own address until ``stop``: for a ``worker`` process, or to keep
    the metrics off the API's address altogether."""

    async def handle(_: web.Request) -> web.Response:
        body = await render(metrics, sampled)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(PATH, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("metrics on http://%s:%d%s", host, port, PATH)
        await stop.wait()
    finally:
        await runner.cleanup()


__all__ = ["PATH", "Sampled", "authorized", "render", "serve"]
