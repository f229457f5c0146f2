"""The rampwire API from Python: ``AsyncClient`` and ``Client`` (the same methods, blocking).

Typed records for the answers (``records``), lists as iterators that follow the cursors, a
problem document raised as ``ProblemError``, retries of refused connections, 429 and 503
(``Retries``), an ``Idempotency-Key`` generated for order creates. ``OPERATIONS`` maps every
operation of the API to its method. Guide: ``docs/client.md``.

This package talks HTTP only: it imports nothing of the server's layers.
"""

from __future__ import annotations

from . import records
from .blocking import Client
from .clients import AsyncClient
from .errors import APIError, ConnectionFailed, ProblemError, UnexpectedAnswer
from .operations import OPERATIONS
from .transport import Retries

__all__ = [
    "OPERATIONS",
    "APIError",
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "ProblemError",
    "Retries",
    "UnexpectedAnswer",
    "records",
]
