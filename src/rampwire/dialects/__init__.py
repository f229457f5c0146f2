"""Wire formats: rampwire's standard one and the five providers', each encode, decode and map.

``get_dialect(name)`` returns a :class:`~rampwire.dialects.base.Dialect`, the same small
interface for every format; the emit side, the ingest side and the simulator all go through it.
Status tables and every choice made where a provider is silent: ``docs/dialects.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import fireblocks, koywe, revolut, saber, standard, transak
from .base import (
    DecodedEvent,
    DeliveryPolicy,
    Dialect,
    DialectName,
    EventLike,
    OutboundEvent,
    ProviderEvent,
    WireRequest,
)
from .errors import (
    DialectError,
    DuplicateKey,
    InvalidCredentials,
    MalformedHeader,
    MalformedPayload,
    MissingHeader,
    MissingSignature,
    MissingTimestamp,
    SignatureMismatch,
    SourceRejected,
    TimestampOutOfWindow,
    TokenExpired,
    UnknownDialect,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedEvent,
    VerificationError,
)
from .fireblocks import FireblocksCredentials
from .jose import PublicKey, SigningKey, generate_signing_key, jwks
from .koywe import KoyweCredentials
from .revolut import RevolutCredentials
from .saber import SaberAuth, SaberCredentials
from .standard import StandardCredentials
from .transak import TransakCredentials

DIALECTS: Mapping[DialectName, Dialect[Any]] = {
    DialectName.STANDARD: standard.DIALECT,
    DialectName.REVOLUT: revolut.DIALECT,
    DialectName.SABER: saber.DIALECT,
    DialectName.FIREBLOCKS: fireblocks.DIALECT,
    DialectName.KOYWE: koywe.DIALECT,
    DialectName.TRANSAK: transak.DIALECT,
}


def get_dialect(name: str) -> Dialect[Any]:
    """The dialect called ``name`` (case-insensitive); :class:`UnknownDialect` otherwise."""
    try:
        return DIALECTS[DialectName(name.strip().lower())]
    except ValueError as exc:
        known = ", ".join(d.value for d in DialectName)
        raise UnknownDialect(f"no dialect is called {name!r}; known: {known}") from exc


__all__ = [
    "DIALECTS",
    "DecodedEvent",
    "DeliveryPolicy",
    "Dialect",
    "DialectError",
    "DialectName",
    "DuplicateKey",
    "EventLike",
    "FireblocksCredentials",
    "InvalidCredentials",
    "KoyweCredentials",
    "MalformedHeader",
    "MalformedPayload",
    "MissingHeader",
    "MissingSignature",
    "MissingTimestamp",
    "OutboundEvent",
    "ProviderEvent",
    "PublicKey",
    "RevolutCredentials",
    "SaberAuth",
    "SaberCredentials",
    "SignatureMismatch",
    "SigningKey",
    "SourceRejected",
    "StandardCredentials",
    "TimestampOutOfWindow",
    "TokenExpired",
    "TransakCredentials",
    "UnknownDialect",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "UnsupportedEvent",
    "VerificationError",
    "WireRequest",
    "generate_signing_key",
    "get_dialect",
    "jwks",
]
