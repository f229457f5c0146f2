"""Just enough JOSE, strictly: base64url, compact JWS, RSA keys as JWK and JWKS.

Transak signs HS256 JWTs and Fireblocks detached RS512 JWSs; both verifiers here pin their one
algorithm and refuse everything else (``none``, HS/RS confusion, ``crit`` extensions). Keys for
rampwire's own Fireblocks signatures are made by :func:`generate_signing_key`, identified by their
RFC 7638 thumbprint, and published with :func:`jwks`.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import InvalidCredentials, MalformedHeader, SignatureMismatch, UnsupportedAlgorithm
from .wire import parse_object

RSA_KEY_BITS: Final = 3072  # size of keys made by generate_signing_key
MIN_RSA_KEY_BITS: Final = 2048  # smaller keys are refused, for signing and verifying

# base64url's two letters become the standard alphabet's; the standard alphabet's own "+", "/"
# and "=" become "*", which no alphabet has, so that the strict decoder refuses them
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/***")


# the standard alphabet's two letters become base64url's
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_encode(data: bytes) -> str:
    # base64.urlsafe_b64encode's own steps, without its two Python layers
    encoded = binascii.b2a_base64(data, newline=False).translate(_STANDARD_TO_URLSAFE)
    return encoded.rstrip(b"=").decode("ascii")


def b64url_decode(value: str | bytes) -> bytes:
    """Strict unpadded base64url: any other character (a trailing newline too), or an
    impossible length, is an error."""
    if isinstance(value, bytes):
        data = value  # the strict decoder refuses a byte outside its alphabet, ASCII or not
    elif value.isascii():
        data = value.encode("ascii")
    else:
        raise ValueError("not base64url")
    if len(data) % 4 == 1:
        raise ValueError("not base64url")
    # one pass to the standard alphabet, then the decoder's strict mode refuses any character
    # outside it (a newline too), rather than a pass of its own to look for them
    try:
        return binascii.a2b_base64(
            data.translate(_URLSAFE_TO_STANDARD) + b"=" * (-len(data) % 4), strict_mode=True
        )
    except binascii.Error:
        raise ValueError("not base64url") from None


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


# --- keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PublicKey:
    """An RSA verification key; ``kid`` None matches any key id (a bare PEM)."""

    key: rsa.RSAPublicKey
    kid: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SigningKey:
    """An RSA private key and the key id published for it."""

    key: rsa.RSAPrivateKey
    kid: str

    @property
    def public(self) -> PublicKey:
        return PublicKey(key=self.key.public_key(), kid=self.kid)


def generate_signing_key(bits: int = RSA_KEY_BITS) -> SigningKey:
    """A new RSA key pair, its ``kid`` the RFC 7638 thumbprint of the public key."""
    if bits < MIN_RSA_KEY_BITS:
        raise InvalidCredentials(f"RSA keys must have at least {MIN_RSA_KEY_BITS} bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return SigningKey(key=key, kid=thumbprint(key.public_key()))


def private_key_pem(signing_key: SigningKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (encrypt it at rest with the master key)."""
    return signing_key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PublicKey | SigningKey) -> bytes:
    public = key.key.public_key() if isinstance(key, SigningKey) else key.key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_signing_key(pem: bytes | str, kid: str | None = None) -> SigningKey:
    """A signing key from PEM; its ``kid`` defaults to the public key's thumbprint."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidCredentials(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_KEY_BITS:
        raise InvalidCredentials(f"the signing key must be RSA of {MIN_RSA_KEY_BITS}+ bits")
    return SigningKey(key=key, kid=kid or thumbprint(key.public_key()))


def load_public_pem(pem: bytes | str, kid: str | None = None) -> PublicKey:
    """A verification key from a PEM public key (or certificate-free SPKI)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidCredentials(f"not a PEM public key: {exc}") from exc
    return PublicKey(key=_check_rsa(key), kid=kid)


def _check_rsa(key: object) -> rsa.RSAPublicKey:
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_KEY_BITS:
        raise InvalidCredentials(f"verification keys must be RSA of {MIN_RSA_KEY_BITS}+ bits")
    return key


def thumbprint(key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an RSA public key."""
    numbers = key.public_numbers()
    canonical = orjson.dumps({"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)})
    return b64url_encode(hashlib.sha256(canonical).digest())


def public_jwk(key: PublicKey | SigningKey) -> dict[str, str]:
    public = key.public if isinstance(key, SigningKey) else key
    numbers = public.key.public_numbers()
    return {
        "kty": "RSA",
        "n": _uint(numbers.n),
        "e": _uint(numbers.e),
        "kid": public.kid or thumbprint(public.key),
        "alg": "RS512",
        "use": "sig",
    }


def jwks(keys: Iterable[PublicKey | SigningKey]) -> dict[str, list[dict[str, str]]]:
    """The JWKS document to serve at ``/.well-known/jwks.json``: public halves only."""
    return {"keys": [public_jwk(key) for key in keys]}


def load_jwks(document: bytes | str | Mapping[str, Any]) -> tuple[PublicKey, ...]:
    """The RSA keys of a JWKS document; other key types are skipped, malformed ones refused."""
    try:
        data = orjson.loads(document) if isinstance(document, bytes | str) else document
        found: list[PublicKey] = []
        for jwk in data["keys"]:
            if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                continue
            n = int.from_bytes(b64url_decode(jwk["n"]), "big")
            e = int.from_bytes(b64url_decode(jwk["e"]), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
            found.append(PublicKey(key=_check_rsa(key), kid=str(jwk["kid"])))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidCredentials(f"not a usable JWKS document: {exc}") from exc
    return tuple(found)


# --- compact JWS --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Compact:
    """A compact JWS split into its parts; ``header`` is the decoded protected header,
    ``payload`` the decoded payload (checked on the way, so kept rather than decoded again)."""

    header: dict[str, Any]
    header_b64: str
    payload_b64: str
    payload: bytes
    signature: bytes
    signature_b64: str

    @property
    def signing_input(self) -> bytes:
        return f"{self.header_b64}.{self.payload_b64}".encode("ascii")


# The protected header of nearly every HS256 token (Transak's), in base64url, and what it
# parses to: the same text always reads as the same object, so it is read once here
_COMMON_HEADERS: Final[Mapping[str, Mapping[str, Any]]] = {
    b64url_encode(b'{"alg":"HS256","typ":"JWT"}'): {"alg": "HS256", "typ": "JWT"},
}


def split_compact(value: str, *, what: str, alg: str) -> Compact:
    """Parse ``header.payload.signature`` and pin ``alg``; raise verification errors."""
    parts = value.strip().split(".")
    if len(parts) != 3:
        raise MalformedHeader(f"the {what} is not a compact JWS (header.payload.signature)")
    header_b64, payload_b64, signature_b64 = parts
    common = _COMMON_HEADERS.get(header_b64)
    try:
        if common is not None:
            header = dict(common)  # a copy: the caller's to keep
        else:
            header = parse_object(b64url_decode(header_b64))  # a key given twice is refused
        signature = b64url_decode(signature_b64)
        payload = b64url_decode(payload_b64)
    except ValueError as exc:
        raise MalformedHeader(f"the {what} is not valid base64url JSON") from exc
    if not isinstance(header, dict):
        raise MalformedHeader(f"the {what}'s protected header is not a JSON object")
    if header.get("alg") != alg:
        raise UnsupportedAlgorithm(
            f"the {what} uses alg {header.get('alg')!r}; only {alg} is accepted"
        )
    if "crit" in header or header.get("b64") is False:
        raise UnsupportedAlgorithm(f"the {what} asks for JWS extensions this verifier refuses")
    if not signature:
        raise SignatureMismatch(f"the {what} has an empty signature")
    return Compact(
        header=header,
        header_b64=header_b64,
        payload_b64=payload_b64,
        payload=payload,
        signature=signature,
        signature_b64=signature_b64,
    )


def protected_header(header: Mapping[str, Any]) -> str:
    return b64url_encode(orjson.dumps(dict(header)))


def rs512_sign(key: SigningKey, message: bytes) -> bytes:
    return key.key.sign(message, padding.PKCS1v15(), hashes.SHA512())


def rs512_verify(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        return False
    return True
