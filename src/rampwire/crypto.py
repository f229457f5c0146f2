"""Secrets at rest: AES-256-GCM under a master key.

The master key is 32 random bytes, given as URL-safe base64 in ``RAMPWIRE_MASTER_KEY``; the
embedded default generates one into ``<data dir>/master.key`` (mode 0600) on first use. Each
ciphertext is bound to what it protects (``context``, e.g. ``"endpoint:ep_..."``) as associated
data, so a secret copied onto another row does not decrypt.

A ciphertext names the key that sealed it (``v2:<key id>:<base64>``, the key id a hash of the
key): during a rotation a value is decrypted with the key it names, and the rotation finds the
values still under an old key without decrypting anything. ``v1:`` ciphertexts, written before
key ids, are tried with every key. Previous keys (``RAMPWIRE_MASTER_KEY_PREVIOUS``, or the lines
after the first in ``master.key``) only decrypt; the current key seals.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import RampwireError
from .settings import Secret, Settings

KEY_BYTES = 32
NONCE_BYTES = 12
LEGACY_PREFIX = "v1:"  # no key id: tried with every key
FORMAT_PREFIX = "v2:"
KEY_ID_CHARS = 8  # hex characters of the key's hash: tells keys apart, reveals nothing
MASTER_KEY_FILE = "master.key"
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")  # URL-safe base64 to the standard alphabet

log = logging.getLogger("rampwire.crypto")


class CryptoError(RampwireError):
    """A secret could not be decrypted: wrong master key, or tampered data."""


def key_id(master_key: bytes) -> str:
    """A short public name for a master key, written into every ciphertext it seals."""
    return hashlib.sha256(b"rampwire master key id\x00" + master_key).hexdigest()[:KEY_ID_CHARS]


class SecretBox:
    """Encrypts short secrets with the current master key; decrypts with it or a previous one."""

    def __init__(self, master_key: bytes, *, previous: Sequence[bytes] = ()) -> None:
        for key in (master_key, *previous):
            if len(key) != KEY_BYTES:
                raise CryptoError(f"the master key must be {KEY_BYTES} bytes")
        self.key_id = key_id(master_key)
        self._aead = AESGCM(master_key)
        self._keys = {self.key_id: self._aead}
        for key in previous:
            self._keys.setdefault(key_id(key), AESGCM(key))

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        encoded = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{FORMAT_PREFIX}{self.key_id}:{encoded}"

    def decrypt(self, token: str, *, context: str) -> Secret:
        if token.startswith(FORMAT_PREFIX):
            kid, _, encoded = token[len(FORMAT_PREFIX) :].partition(":")
            aead = self._keys.get(kid)
            if aead is None:
                raise CryptoError(
                    f"a secret is sealed with master key {kid}, which is not configured"
                    " (RAMPWIRE_MASTER_KEY, RAMPWIRE_MASTER_KEY_PREVIOUS)"
                )
            # _open() inlined for its one key: a worker opens a secret for each endpoint it
            # reads, and a Python call is ~1 k instructions of the ~10 k this takes
            try:
                raw = binascii.a2b_base64(encoded.encode("ascii").translate(_FROM_URLSAFE))
                plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
                return Secret(plain.decode("utf-8"))
            except (binascii.Error, InvalidTag, ValueError, UnicodeDecodeError) as exc:
                raise CryptoError() from exc
        if token.startswith(LEGACY_PREFIX):
            return self._open(tuple(self._keys.values()), token[len(LEGACY_PREFIX) :], context)
        raise CryptoError("not a rampwire ciphertext")

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is sealed with the current key (a rotation leaves it alone)."""
        return token.startswith(f"{FORMAT_PREFIX}{self.key_id}:")

    def reseal(self, token: str, *, context: str) -> str:
        """``token`` sealed with the current key (itself if it already is)."""
        if self.is_current(token):
            return token
        return self.encrypt(self.decrypt(token, context=context).reveal(), context=context)

    def _open(self, keys: Sequence[AESGCM], encoded: str, context: str) -> Secret:
        # base64.urlsafe_b64decode, without its five Python calls: a worker opens two
        # ciphertexts for each endpoint it reads
        try:
            raw = binascii.a2b_base64(encoded.encode("ascii").translate(_FROM_URLSAFE))
        except (binascii.Error, ValueError) as exc:
            raise CryptoError() from exc
        associated = context.encode("utf-8")
        for aead in keys:
            try:
                plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)
                return Secret(plain.decode("utf-8"))
            except (InvalidTag, ValueError, UnicodeDecodeError):
                continue
        raise CryptoError()


def parse_master_key(text: str, *, name: str = "RAMPWIRE_MASTER_KEY") -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CryptoError(f"{name} must be URL-safe base64") from exc
    if len(key) != KEY_BYTES:
        raise CryptoError(f"{name} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def master_key_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / MASTER_KEY_FILE


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replace ``path`` with ``keys`` (current first), mode 0600 from the first byte: written to
    a new file opened O_EXCL with mode 0600, then renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{key}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _create_key_file(path: Path) -> None:
    """A new key file, unless another process made one first: linked into place, so no process
    ever reads a file that is there but not yet written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    write_key_file(temporary, [new_master_key()])
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first
    finally:
        temporary.unlink()


def _read_key_file(path: Path) -> list[str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_master_keys(settings: Settings) -> tuple[bytes, list[bytes]]:
    """The current master key and the previous ones (which only decrypt).

    ``RAMPWIRE_MASTER_KEY`` (and ``RAMPWIRE_MASTER_KEY_PREVIOUS``) when set; otherwise the data
    directory's ``master.key``, made on first use: its first line is the current key, any
    further lines previous keys.
    """
    previous = [
        parse_master_key(s.reveal(), name="RAMPWIRE_MASTER_KEY_PREVIOUS")
        for s in settings.previous_master_keys
    ]
    if settings.master_key is not None:
        return parse_master_key(settings.master_key.reveal()), previous
    path = master_key_path(settings)
    if not path.exists():
        _create_key_file(path)
    lines = _read_key_file(path)
    if not lines:
        raise CryptoError(f"{path} holds no master key")
    current, *older = (parse_master_key(line, name=str(path)) for line in lines)
    return current, [*older, *previous]


def load_master_key(settings: Settings) -> bytes:
    """The configured master key, or the data directory's, made on first use."""
    return load_master_keys(settings)[0]


def secret_box(settings: Settings) -> SecretBox:
    current, previous = load_master_keys(settings)
    return SecretBox(current, previous=previous)
