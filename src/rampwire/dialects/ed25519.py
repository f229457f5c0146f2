"""rampwire's ed25519 webhook key: the Standard Webhooks ``v1a`` signature's key pair.

The public half is published in two spellings at ``/.well-known/webhook-public-keys``: the
Standard Webhooks one (``whpk_`` + base64 of the 32 raw bytes, what the receiver kit and the
Standard Webhooks libraries take) and an RFC 8037 OKP JWK whose ``kid`` is its RFC 7638
thumbprint. The private half is stored as its 32-byte seed (base64), sealed with the master key.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Final

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from .errors import InvalidCredentials
from .jose import b64url_encode

ALGORITHM: Final = "EdDSA"  # the signing_keys.algorithm of these keys, and the JWK's alg
PUBLIC_KEY_PREFIX: Final = "whpk_"


def _public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _thumbprint(public: bytes) -> str:
    canonical = orjson.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(public)})
    return b64url_encode(hashlib.sha256(canonical).digest())


@dataclass(frozen=True, slots=True)
class WebhookKey:
    """An ed25519 key pair and its id (the RFC 7638 thumbprint of the public half)."""

    private: Ed25519PrivateKey = field(repr=False)
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kid", _thumbprint(_public_bytes(self.private)))

    @property
    def public_key(self) -> str:
        """The Standard Webhooks spelling: ``whpk_<base64>``."""
        return PUBLIC_KEY_PREFIX + base64.b64encode(_public_bytes(self.private)).decode()

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(_public_bytes(self.private)),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
            "whpk": self.public_key,
        }

    def seed(self) -> str:
        """The private half to seal: base64 of the 32-byte seed."""
        raw = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return base64.b64encode(raw).decode()


def generate_webhook_key() -> WebhookKey:
    return WebhookKey(Ed25519PrivateKey.generate())


def load_webhook_key(seed: str) -> WebhookKey:
    try:
        return WebhookKey(Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed)))
    except ValueError as exc:
        raise InvalidCredentials(
            "an ed25519 webhook key is the base64 of its 32-byte seed"
        ) from exc


def public_keys(keys: list[WebhookKey]) -> dict[str, list[dict[str, str]]]:
    """The document served at ``/.well-known/webhook-public-keys``: public halves only."""
    return {"keys": [key.public_jwk() for key in keys]}
