"""Which endpoints' successes a worker wrote lately, so that its record batches do not check them
again.

An endpoint's ``last_success_at`` is kept to within a resolution (the repository's
``SUCCESS_RESOLUTION``): a success is written when the stored one is older than that, or when the
endpoint is failing (``failing_since`` set). A worker serving thousands of endpoints finds
hundreds of them in every record batch, and the database checked each of them every time, to
write each at most once per resolution. This remembers, per endpoint, when this worker last wrote
its success: within the resolution, and unless this worker has seen the endpoint fail since, the
row is known fresh and not failing as far as this worker knows, and is not checked. A failure
that another process records meanwhile stays visible until this worker's next write, at most one
resolution later. Pure bookkeeping: no I/O, no clock (times are microseconds given by the caller).
"""

from __future__ import annotations

from collections.abc import Iterable

KEPT_ENDPOINTS = 16_384  # endpoints remembered before the stale ones are dropped


class SuccessesWritten:
    def __init__(self, *, resolution_us: int) -> None:
        self._resolution_us = resolution_us
        self._at: dict[str, int] = {}  # endpoint id → when this worker last wrote its success

    def __len__(self) -> int:
        return len(self._at)

    def due(self, endpoint_ids: Iterable[str], now_us: int) -> list[str]:
        """Of the endpoints that just succeeded, those whose success must be checked (and,
        where stale or failing, written): all but those this worker wrote within the
        resolution. A clock that went back makes an endpoint due."""
        at, resolution = self._at, self._resolution_us
        return [
            endpoint_id
            for endpoint_id in endpoint_ids
            if not 0 <= now_us - at.get(endpoint_id, -resolution) < resolution
        ]

    def wrote(self, endpoint_ids: Iterable[str], now_us: int) -> None:
        """These endpoints' successes were written at ``now_us`` (committed)."""
        at = self._at
        for endpoint_id in endpoint_ids:
            at[endpoint_id] = now_us
        if len(at) > KEPT_ENDPOINTS:
            fresh = now_us - self._resolution_us
            self._at = {endpoint_id: t for endpoint_id, t in at.items() if t > fresh}

    def failed(self, endpoint_ids: Iterable[str]) -> None:
        """This worker saw these endpoints fail: their next success is checked, and written."""
        at = self._at
        for endpoint_id in endpoint_ids:
            at.pop(endpoint_id, None)
