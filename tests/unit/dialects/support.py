"""Constants and helpers shared by the dialect tests: a fixed clock, one RSA key, credentials."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rampwire.dialects import DIALECTS, DialectName, standard
from rampwire.dialects.jose import SigningKey, generate_signing_key, private_key_pem

NOW = datetime(2024, 1, 15, 10, 30, 0, 123000, tzinfo=UTC)
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.partner-access-token.0123456789abcdef0123456789abcdef"
OLD_ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.previous-access-token.fedcba9876543210fedcba98765432"
SECRET = "wsk_test_0123456789abcdef0123456789abcdef"  # long enough for every library's taste
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

_KEY: SigningKey | None = None


def signing_key() -> SigningKey:
    """One 2048-bit key for the whole run (3072-bit generation is slow and proves nothing more)."""
    global _KEY
    if _KEY is None:
        _KEY = generate_signing_key(2048)
    return _KEY


def secrets_for(name: DialectName) -> list[str]:
    if name is DialectName.STANDARD:
        return [STANDARD_SECRET]
    if name is DialectName.FIREBLOCKS:
        return [private_key_pem(signing_key()).decode()]
    if name is DialectName.TRANSAK:
        return [ACCESS_TOKEN]
    return [SECRET]


def credentials_for(name: DialectName) -> Any:
    return DIALECTS[name].credentials_from_secrets(secrets_for(name))
