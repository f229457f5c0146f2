"""The raw inbound log: every authentic provider request, kept for audit and re-processing.

A request is recorded only after its dialect verified it; a forged or malformed request writes
nothing (it is counted and logged). Each record says what became of the request:

- ``applied``: it changed an order (or created one);
- ``unchanged``: authentic but nothing new: stale, or the same values again;
- ``unmapped``: authentic, but it carries no canonical status and no field rampwire reads;
- ``unapplied``: it names an order rampwire has not seen and does not say the order's side, so
  the order cannot be created; re-process it once the order is known.

De-duplication is on what was verified, never on the bytes alone (:func:`dedupe_key`):
Fireblocks' notification id; otherwise the order id, the event and status, and a hash of the
verified content, the decoded payload in one canonical spelling (:func:`~rampwire.dialects.wire.
canonical`: keys sorted, no whitespace, one escape per character). A retried request, and any
re-serialisation of a captured one (whitespace, key order, escapes, an unsigned outer key beside
Transak's JWT), adds nothing, while a second, different event for the same status is applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from operator import attrgetter

from ..dialects.base import DecodedEvent
from ..dialects.saber import TOKEN_HEADER
from ..dialects.wire import canonical
from ..domain.orders import Provider

INBOUND_ID_PREFIX = "inb"
# Headers that carry a credential rather than a signature: never logged. Signatures stay (they
# prove the logged body, and re-processing verifies them again).
KEPT_HEADERS_EXCLUDED = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-api-key", TOKEN_HEADER.lower()}
)


class InboundOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNMAPPED = "unmapped"
    UNAPPLIED = "unapplied"


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundRequest:
    """A provider's request as received: what the log keeps, and what re-processing reads."""

    headers: dict[str, str]
    body: bytes
    received_at: datetime
    peer_ip: str | None = None
    url_token: str | None = None  # not stored: it is a credential


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundRecord:
    id: str
    source_id: str
    provider: Provider
    dedupe_key: str
    received_at: datetime
    processed_at: datetime
    outcome: InboundOutcome
    detail: str | None
    provider_order_id: str | None
    order_id: str | None
    provider_event: str | None
    event_ids: tuple[str, ...]
    headers: dict[str, str]
    body: str
    peer_ip: str | None
    attempts: int  # 1, plus one per re-processing


def kept_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers the log keeps: lower-cased names, credentials left out."""
    if "".join(headers).islower():  # lower-cased already (as ASGI gives them): copied in C
        kept = headers.copy()
        for name in KEPT_HEADERS_EXCLUDED.intersection(headers):
            del kept[name]
        return kept
    return {
        lowered: value
        for name, value in headers.items()
        if (lowered := name.lower()) not in KEPT_HEADERS_EXCLUDED
    }


def dedupe_key(provider: Provider, events: Sequence[DecodedEvent], body: bytes) -> str:
    """The request's identity at its provider (see the module docstring).

    The content hashed is each event's ``raw``, the payload its dialect verified (Transak: the
    JWT's claims, not the body around them); a request that decoded to no event falls back on
    its body's bytes.
    """
    keys = ",".join(sorted(map(_DEDUPE_KEY, events))) or "-"
    if provider is Provider.FIREBLOCKS:
        return keys
    if events:
        raws = list(map(_RAW_JSON, events))  # each canonical(raw), where its dialect made it
        if None in raws:
            raws = list(map(_canonical, events))
        content = b"[" + b",".join(raws) + b"]"
    else:
        content = body
    return f"{keys}:{hashlib.sha256(content).hexdigest()[:32]}"


_DEDUPE_KEY = attrgetter("dedupe_key")
_RAW_JSON = attrgetter("raw_json")


def _canonical(event: DecodedEvent) -> bytes:
    """``canonical(event.raw)``: a list of these, joined, is ``canonical`` of the list."""
    return canonical(event.raw) if event.raw_json is None else event.raw_json
