"""A failing side task's waits (doubling, capped) and its one log line per outage: the worker's
claims, records and lease renewals use one each, so a database outage logs one warning per
task and one line when it works again, not one per retry."""

from __future__ import annotations

import logging

log = logging.getLogger("rampwire.worker")

RETRY_MIN_S = 0.2  # a failing claim, record or renewal waits this long, doubled each time
RETRY_MAX_S = 5.0  # ... up to this


class Backoff:
    """A failing side task's waits, and its one log line per outage."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.error: str | None = None  # while failing: why
        self._delay = RETRY_MIN_S

    def failed(self, exc: BaseException) -> float:
        """Note a failure; returns how long to wait before the next try."""
        if self.error is None:
            log.warning("%s failed: %s; trying again", self.what, exc)
        self.error = str(exc) or type(exc).__name__
        delay, self._delay = self._delay, min(self._delay * 2, RETRY_MAX_S)
        return delay

    def succeeded(self) -> None:
        if self.error is not None:
            log.info("%s works again", self.what)
        self.error = None
        self._delay = RETRY_MIN_S
