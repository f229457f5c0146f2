"""Verify a Standard Webhooks request from rampwire: ``v1`` (HMAC-SHA256) and ``v1a`` (ed25519).

The signed content is ``<webhook-id>.<webhook-timestamp>.<body>``. ``webhook-signature`` holds
space-separated ``<version>,<base64>`` entries: several ``v1`` during a secret rotation, ``v1a``
for an endpoint signed with rampwire's ed25519 key. One entry that any configured secret or
public key proves is enough. The timestamp must be within the tolerance of now, either way.

Unlike the official verifier, nothing but :class:`WebhookVerificationError` leaves
:meth:`Verifier.verify`, whatever the headers hold; a secret that cannot be used is refused
when the :class:`Verifier` is built (:class:`~rampwire.errors.ConfigError`), not per request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ConfigError
from .errors import WebhookVerificationError

DEFAULT_TOLERANCE: Final = timedelta(minutes=5)  # Standard Webhooks' window, both ways
SECRET_PREFIX: Final = "whsec_"
PUBLIC_KEY_PREFIX: Final = "whpk_"
ED25519_SIGNATURE_BYTES: Final = 64
_DIGITS = re.compile(r"^[0-9]{1,16}$")  # ASCII only: int() would take other scripts' digits


def _b64(value: str) -> bytes:
    """Strict base64 (padding optional), or binascii.Error/ValueError."""
    return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)


def _secret_key(secret: str) -> bytes:
    try:
        key = _b64(secret.strip().removeprefix(SECRET_PREFIX))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("a webhook secret is whsec_ followed by base64") from exc
    if not key:
        raise ConfigError("a webhook secret must not be empty")
    return key


def _public_key(value: str) -> Ed25519PublicKey:
    try:
        raw = _b64(value.strip().removeprefix(PUBLIC_KEY_PREFIX))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            "a webhook public key is whpk_ followed by the base64 of 32 ed25519 key bytes"
        ) from exc


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True, slots=True)
class Verifier:
    """An endpoint's secrets (``whsec_...``) and/or rampwire's public keys (``whpk_...``).

    Build it once at start-up with every secret a rotation keeps valid, newest first.
    """

    secrets: tuple[str, ...] = ()
    public_keys: tuple[str, ...] = ()
    tolerance: timedelta = DEFAULT_TOLERANCE
    _hmac_keys: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _ed25519_keys: tuple[Ed25519PublicKey, ...] = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        secrets: str | Iterable[str] = (),
        *,
        public_keys: str | Iterable[str] = (),
        tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        object.__setattr__(self, "secrets", _strings(secrets))
        object.__setattr__(self, "public_keys", _strings(public_keys))
        object.__setattr__(self, "tolerance", tolerance)
        if not self.secrets and not self.public_keys:
            raise ConfigError("give at least one whsec_ secret or whpk_ public key")
        if tolerance < timedelta(0):
            raise ConfigError("the tolerance must not be negative")
        object.__setattr__(self, "_hmac_keys", tuple(_secret_key(s) for s in self.secrets))
        object.__setattr__(self, "_ed25519_keys", tuple(_public_key(k) for k in self.public_keys))

    def __repr__(self) -> str:  # never the secrets themselves
        return (
            f"Verifier({len(self.secrets)} secret(s), {len(self.public_keys)} public key(s), "
            f"tolerance={self.tolerance})"
        )

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Check the request and return its JSON body (the event envelope)."""
        self.verify_signature(headers, body, now=now)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise WebhookVerificationError(
                "the signed body is not JSON", reason="malformed_payload"
            ) from exc
        if not isinstance(payload, dict):
            raise WebhookVerificationError(
                "the signed body is not a JSON object", reason="malformed_payload"
            )
        return payload

    def verify_signature(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime | None = None
    ) -> str:
        """Check the request's signature and time only; return its ``webhook-id``."""
        lowered = {k.lower(): v for k, v in headers.items() if isinstance(k, str)}
        message_id = _header(lowered, "webhook-id")
        timestamp = _header(lowered, "webhook-timestamp")
        received = _header(lowered, "webhook-signature")
        if not _DIGITS.match(timestamp):
            raise WebhookVerificationError(
                f"webhook-timestamp must be UNIX seconds, not {timestamp[:40]!r}",
                reason="malformed_header",
            )
        self._check_window(int(timestamp), now)
        signed = f"{message_id}.{timestamp}.".encode() + body
        if not self._proven(_entries(received), signed):
            raise WebhookVerificationError(
                "webhook-signature matches none of the configured secrets or keys",
                reason="signature_mismatch",
            )
        return message_id

    def _check_window(self, timestamp: int, now: datetime | None) -> None:
        current = (now or datetime.now(UTC)).timestamp()
        skew = timestamp - current
        if abs(skew) > self.tolerance.total_seconds():
            reason = "too_old" if skew < 0 else "in_the_future"
            raise WebhookVerificationError(
                f"webhook-timestamp is {abs(skew):.0f} s {'before' if skew < 0 else 'after'}"
                f" now; at most {self.tolerance.total_seconds():.0f} s either way are accepted",
                reason=reason,
            )

    def _proven(self, entries: list[tuple[str, bytes]], signed: bytes) -> bool:
        offered = [(v, s) for v, s in entries if (v == "v1" and self._hmac_keys)]
        offered += [(v, s) for v, s in entries if (v == "v1a" and self._ed25519_keys)]
        if not offered:
            kinds = " or ".join(
                kind
                for kind, keys in (("v1", self._hmac_keys), ("v1a", self._ed25519_keys))
                if keys
            )
            raise WebhookVerificationError(
                f"webhook-signature carries no {kinds} signature", reason="no_signature"
            )
        expected = [hmac.digest(key, signed, hashlib.sha256) for key in self._hmac_keys]
        found = False
        for version, signature in offered:  # no early exit: the time does not tell which matched
            if version == "v1":
                for digest in expected:
                    found |= hmac.compare_digest(digest, signature)
            else:
                for public in self._ed25519_keys:
                    found |= _ed25519_valid(public, signature, signed)
        return found


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if not isinstance(value, str) or not value.strip():
        raise WebhookVerificationError(f"the {name} header is missing", reason="missing_header")
    return value.strip()


def _entries(received: str) -> list[tuple[str, bytes]]:
    entries = []
    for item in received.split():
        version, comma, value = item.partition(",")
        try:
            if not comma:
                raise ValueError("no comma")
            entries.append((version, _b64(value)))
        except (binascii.Error, ValueError) as exc:
            raise WebhookVerificationError(
                "webhook-signature entries look like v1,<base64> or v1a,<base64>",
                reason="malformed_header",
            ) from exc
    return entries


def _ed25519_valid(public: Ed25519PublicKey, signature: bytes, signed: bytes) -> bool:
    if len(signature) != ED25519_SIGNATURE_BYTES:
        return False
    try:
        public.verify(signature, signed)
    except InvalidSignature:
        return False
    return True


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: str | Iterable[str] = (),
    *,
    public_keys: str | Iterable[str] = (),
    tolerance: timedelta = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One-shot :meth:`Verifier.verify`; build a :class:`Verifier` once to verify many."""
    verifier = Verifier(secrets, public_keys=public_keys, tolerance=tolerance)
    return verifier.verify(headers, body, now=now)
