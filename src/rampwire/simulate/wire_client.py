"""The simulator's lean client for plain ``http://`` receivers: the guarded HTTP/1.1 client
deliveries are sent with (:class:`~rampwire.ssrf.wire.WireClient`), at most ``connections``
requests in flight, only the status kept.

Why not aiohttp for this: the simulator signs every request as it sends it, and as a load
generator it must still send as many per second as ``bench/ingest.py``'s generator, which signs
before the clock starts; aiohttp's client costs several times more CPU per request than writing
the bytes and parsing the answer. ``https://`` URLs go through aiohttp
(:func:`~rampwire.simulate.runner.http_sender`). Redirects are not followed (a provider does not
follow them). The simulator sends to a developer's own receiver, so private and loopback
addresses are allowed (cloud metadata stays refused).
"""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import urlsplit

from ..dialects.base import WireRequest
from ..ssrf import TargetPolicy
from ..ssrf import WireClient as _Wire

ANSWER_CAP_BYTES: Final = 64 * 1024  # of an answer read; a longer one closes its connection
_LOCAL: Final = TargetPolicy(allow_private=True)


class WireClient:
    """POSTs to one ``http://`` URL over at most ``connections`` keep-alive connections."""

    def __init__(self, url: str, *, connections: int, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the lean client takes http:// URLs, not {url!r}")
        self.url = url
        self.slots = asyncio.Semaphore(max(1, connections))
        self._wire = _Wire(
            _LOCAL, connect_timeout=timeout, total_timeout=timeout, body_cap=ANSWER_CAP_BYTES
        )

    async def send(self, request: WireRequest) -> int | None:
        """The answer's status, or None: no answer in time, or the connection failed."""
        async with self.slots:
            try:
                answer = await self._wire.post(self.url, request.headers, request.body)
            except OSError:  # TimeoutError, refused, reset, not HTTP, cut short
                return None
            return answer.status

    def close(self) -> None:
        self._wire.close()
