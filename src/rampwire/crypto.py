"""Secrets at rest: AES-256-GCM under a master key.

The master key is 32 random bytes, given as URL-safe base64 in ``RAMPWIRE_MASTER_KEY``; the
embedded default generates one into ``<data dir>/master.key`` (mode 0600) on first use. Each
ciphertext is bound to what it protects (``context``, e.g. ``"endpoint:ep_..."``) as associated
data, so a secret copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import RampwireError
from .settings import Secret, Settings

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_PREFIX = "v1:"
MASTER_KEY_FILE = "master.key"


class CryptoError(RampwireError):
    """A secret could not be decrypted: wrong master key, or tampered data."""


class SecretBox:
    """Encrypts and decrypts short secrets with one master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise CryptoError(f"the master key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(master_key)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return FORMAT_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, *, context: str) -> Secret:
        if not token.startswith(FORMAT_PREFIX):
            raise CryptoError("not a rampwire ciphertext")
        try:
            raw = base64.urlsafe_b64decode(token[len(FORMAT_PREFIX) :])
            plain = self._aead.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")
            )
            return Secret(plain.decode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise CryptoError() from exc


def parse_master_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("RAMPWIRE_MASTER_KEY must be URL-safe base64") from exc
    if len(key) != KEY_BYTES:
        raise CryptoError(f"RAMPWIRE_MASTER_KEY must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def load_master_key(settings: Settings) -> bytes:
    """The configured master key, or the data directory's, made on first use."""
    if settings.master_key is not None:
        return parse_master_key(settings.master_key.reveal())
    path = Path(settings.data_dir) / MASTER_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(new_master_key() + "\n")
    return parse_master_key(path.read_text())


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(load_master_key(settings))
