"""Verify a delivery to a dialect endpoint: rampwire speaking a provider's format.

Rampwire signs such a delivery exactly the way that provider does, so the dialect module that
verifies the provider's webhooks on ingest verifies rampwire's too; this module only builds its
credentials once and turns its errors into :class:`WebhookVerificationError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..dialects import (
    DecodedEvent,
    Dialect,
    DialectError,
    DialectName,
    MalformedHeader,
    MalformedPayload,
    MissingHeader,
    MissingSignature,
    TimestampOutOfWindow,
    get_dialect,
)
from ..errors import ConfigError
from .errors import WebhookVerificationError


def _reason(error: DialectError) -> str:
    if isinstance(error, TimestampOutOfWindow):
        return str(error.extensions.get("reason", "too_old"))
    for kind, reason in (
        (MissingHeader, "missing_header"),
        (MalformedHeader, "malformed_header"),
        (MissingSignature, "no_signature"),
        (MalformedPayload, "malformed_payload"),
    ):
        if isinstance(error, kind):
            return reason
    return "signature_mismatch"


@dataclass(frozen=True, slots=True)
class ProviderVerifier:
    """A dialect endpoint's secrets, in the form its ``secrets`` take in the endpoints API
    (Transak's access token, Revolut's signing secret, Fireblocks' public keys or rampwire's
    JWKS document, ...), newest first."""

    dialect: Dialect[Any]
    _credentials: Any = field(repr=False)

    def __init__(self, dialect: str, secrets: str | Iterable[str]) -> None:
        try:
            found = get_dialect(dialect)
            if found.name is DialectName.STANDARD:
                raise ConfigError("verify the standard dialect with Verifier")
            listed = (secrets,) if isinstance(secrets, str) else tuple(secrets)
            credentials = found.credentials_from_secrets(listed)
        except DialectError as exc:
            raise ConfigError(exc.message) from exc
        object.__setattr__(self, "dialect", found)
        object.__setattr__(self, "_credentials", credentials)

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: datetime | None = None,
        url_token: str | None = None,
    ) -> list[DecodedEvent]:
        """Check the request the provider's way and read it back into canonical events."""
        try:
            return self.dialect.decode(
                headers, body, self._credentials, now=now or datetime.now(UTC), url_token=url_token
            )
        except DialectError as exc:
            raise WebhookVerificationError(exc.message, reason=_reason(exc)) from exc
