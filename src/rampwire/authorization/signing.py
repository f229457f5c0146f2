"""The HMAC-SHA256 signature rampwire puts on an authorization request, and its verification.

Two headers travel with the request::

    X-Rampwire-Timestamp: 1718000000
    X-Rampwire-Signature: v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The key is the secret's UTF-8 bytes, the timestamp is UNIX seconds as ASCII digits, and the body is
the exact bytes sent. A receiver recomputes the HMAC, compares in constant time and refuses a
timestamp more than :data:`SIGNATURE_TOLERANCE_SECONDS` away from its clock (both ways), which
bounds replays. The header may hold several comma-separated ``v1=`` values (room for a secret
rotation); one match is enough. :func:`verify` is that recipe for Python receivers and tests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Final

from ..settings import Secret
from .errors import InvalidSignature

TIMESTAMP_HEADER: Final = "X-Rampwire-Timestamp"
SIGNATURE_HEADER: Final = "X-Rampwire-Signature"
SIGNATURE_VERSION: Final = "v1"
SIGNATURE_TOLERANCE_SECONDS: Final = 300  # 5 minutes either way

_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_HEX_RE = re.compile(r"[0-9a-f]{64}")
_MAX_SIGNATURE_HEADER = 1024  # characters: room for a handful of signatures


def signed_content(timestamp: int | str, body: bytes) -> bytes:
    """The bytes the HMAC covers: ``b"<timestamp>." + body``."""
    return f"{timestamp}.".encode("ascii") + body


def sign(secret: Secret, timestamp: int, body: bytes) -> str:
    """The ``X-Rampwire-Signature`` value for ``body`` sent at ``timestamp`` (UNIX seconds)."""
    digest = hmac.new(
        secret.reveal().encode("utf-8"), signed_content(timestamp, body), hashlib.sha256
    ).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify(
    secret: Secret,
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
    tolerance_seconds: float = SIGNATURE_TOLERANCE_SECONDS,
) -> int:
    """Check a request's signature headers; return its timestamp or raise :class:`InvalidSignature`.

    ``timestamp`` and ``signature`` are the raw header values (None when absent). Nothing but
    :class:`InvalidSignature` escapes, whatever the headers hold.
    """
    if timestamp is None or signature is None:
        raise InvalidSignature(f"send both {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be UNIX seconds in ASCII digits")
    sent_at = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        raise InvalidSignature(
            f"{TIMESTAMP_HEADER} is more than {tolerance_seconds:g} seconds from the current time"
        )
    if len(signature) > _MAX_SIGNATURE_HEADER:
        raise InvalidSignature(f"{SIGNATURE_HEADER} is too long")
    expected = sign(secret, sent_at, body).partition("=")[2].encode("ascii")
    candidates = []
    for item in signature.split(","):
        version, sep, value = item.strip().partition("=")
        if sep and version == SIGNATURE_VERSION and _HEX_RE.fullmatch(value.lower()):
            candidates.append(value.lower().encode("ascii"))
    if not candidates:
        raise InvalidSignature(f"{SIGNATURE_HEADER} holds no {SIGNATURE_VERSION}=<hex> signature")
    # compare against every candidate, so the time taken does not tell which one matched
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise InvalidSignature()
    return sent_at
