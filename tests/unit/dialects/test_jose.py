"""base64url, RSA keys, JWK thumbprints, JWKS documents, compact JWS parsing."""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable
from typing import Any, cast

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import KeySet

from rampwire.dialects import InvalidCredentials, MalformedHeader, UnsupportedAlgorithm, jose
from rampwire.dialects.jose import (
    b64url_decode,
    b64url_encode,
    generate_signing_key,
    jwks,
    load_jwks,
    load_public_pem,
    load_signing_key,
    private_key_pem,
    public_jwk,
    public_key_pem,
    split_compact,
    thumbprint,
)
from rampwire.dialects.wire import parse_object

from .support import signing_key

# RFC 7638, section 3.1: this key's SHA-256 thumbprint
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebW"
    "KRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
    "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2N"
    "cRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)


def test_thumbprint_matches_rfc_7638() -> None:
    n = int.from_bytes(b64url_decode(RFC7638_N), "big")
    key = rsa.RSAPublicNumbers(65537, n).public_key()
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    "value", ["a=", "ab+c", "ab/c", "abcde", "a b", "é", "\n", "abcd\n", "ab\n", "\nabc", "ab\r"]
)
def test_b64url_decoding_is_strict(value: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(value)


def _b64url_decode_by_two_passes(value: str) -> bytes:
    """The decoder as it was: a pass to find characters outside the alphabet, then the lenient
    standard decoder."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if not value.isascii():
        raise ValueError("not base64url")
    data = value.encode("ascii")
    if data.translate(None, alphabet) or len(data) % 4 == 1:
        raise ValueError("not base64url")
    return binascii.a2b_base64(
        data.translate(bytes.maketrans(b"-_", b"+/")) + b"=" * (-len(data) % 4)
    )


def _outcome(decode: Callable[[str], bytes], value: str) -> bytes | str:
    try:
        return decode(value)
    except ValueError as exc:
        return f"refused: {exc}"


def test_b64url_decoding_accepts_and_refuses_what_two_passes_did() -> None:
    """Every string of up to five characters from the alphabet's edges and its neighbours."""
    characters = "AQ_-=+/ \n*\x00é9"
    for length in range(6):
        for chars in itertools.product(characters, repeat=length):
            value = "".join(chars)
            assert _outcome(b64url_decode, value) == _outcome(_b64url_decode_by_two_passes, value)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=24))
def test_b64url_decoding_matches_two_passes_on_any_text(value: str) -> None:
    assert _outcome(b64url_decode, value) == _outcome(_b64url_decode_by_two_passes, value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24) | st.text(alphabet="AQ_-=+/ \n*9.", max_size=24).map(str.encode))
def test_b64url_decoding_of_bytes_is_that_of_their_text(value: bytes) -> None:
    """Bytes decode as the same characters do; a byte outside ASCII is refused, as a
    character outside ASCII is."""
    as_text = value.decode("latin-1")
    expected = _outcome(b64url_decode, as_text)
    try:
        found: bytes | str = b64url_decode(value)
    except ValueError as exc:
        found = f"refused: {exc}"
    assert found == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=70))
def test_b64url_encoding_is_the_standard_librarys(data: bytes) -> None:
    assert b64url_encode(data) == base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_b64url_round_trips() -> None:
    for data in (b"", b"\x00", b"\xff\xfe\xfd", bytes(range(256))):
        assert b64url_decode(b64url_encode(data)) == data


def test_the_jwks_document_has_public_rs512_signing_keys_only() -> None:
    key = signing_key()
    document = jwks([key])
    assert document == {"keys": [public_jwk(key)]}
    [jwk] = document["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["e"], jwk["alg"], jwk["use"], jwk["kid"]) == (
        "RSA",
        "AQAB",
        "RS512",
        "sig",
        key.kid,
    )
    assert b"PRIVATE" not in orjson.dumps(document) and "d" not in jwk
    imported = KeySet.import_key_set(cast(Any, document))  # an independent JOSE library reads it
    assert imported.keys[0].kid == key.kid


def test_jwks_documents_load_back_skipping_other_key_types() -> None:
    key = signing_key()
    document = jwks([key])
    document["keys"].append({"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "ec"})
    [loaded] = load_jwks(orjson.dumps(document))
    assert loaded.kid == key.kid
    assert loaded.key.public_numbers() == key.key.public_key().public_numbers()


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"keys": 1}',
        b'{"keys": [{"kty": "RSA", "n": "+", "e": "AQAB", "kid": "k"}]}',
        b'{"keys": [{"kty": "RSA", "e": "AQAB"}]}',
        orjson.dumps(
            {
                "keys": [
                    {"kty": "RSA", "n": b64url_encode(b"\x01" * 64), "e": "AQAB", "kid": "small"}
                ]
            }
        ),
    ],
)
def test_unusable_jwks_documents_are_refused(document: bytes) -> None:
    with pytest.raises(InvalidCredentials):
        load_jwks(document)


def test_pem_round_trips_keep_the_key_id() -> None:
    key = signing_key()
    assert load_signing_key(private_key_pem(key)).kid == key.kid
    assert load_signing_key(private_key_pem(key), kid="rotated-1").kid == "rotated-1"
    public = load_public_pem(public_key_pem(key))
    assert public.kid is None and public.key.public_numbers() == key.public.key.public_numbers()


def test_small_weak_or_foreign_keys_are_refused() -> None:
    with pytest.raises(InvalidCredentials):
        generate_signing_key(1024)
    with pytest.raises(InvalidCredentials):
        load_signing_key("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import serialization

    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidCredentials):
        load_public_pem(pem)


def _compact(header: dict[str, object], signature: bytes = b"sig") -> str:
    return f"{b64url_encode(orjson.dumps(header))}..{b64url_encode(signature)}"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("a.b", MalformedHeader),
        ("a.b.c.d", MalformedHeader),
        ("!!..c2ln", MalformedHeader),
        (f"{b64url_encode(b'[1]')}..c2ln", MalformedHeader),
        (_compact({"alg": "none"}), UnsupportedAlgorithm),
        (_compact({"alg": "RS256"}), UnsupportedAlgorithm),
        (_compact({"alg": "rs512"}), UnsupportedAlgorithm),
        (_compact({"alg": "RS512", "crit": ["exp"]}), UnsupportedAlgorithm),
        (_compact({"alg": "RS512", "b64": False}), UnsupportedAlgorithm),
    ],
)
def test_compact_parsing_refuses_what_it_does_not_pin(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        split_compact(value, what="test JWS", alg="RS512")


def test_the_common_headers_are_what_their_text_parses_to() -> None:
    """A header read from the table is the one parsing its base64url text gives, and a copy."""
    for header_b64, header in jose._COMMON_HEADERS.items():
        assert parse_object(b64url_decode(header_b64)) == header
        token = f"{header_b64}.{b64url_encode(b'{}')}.{b64url_encode(b'sig')}"
        compact = split_compact(token, what="test JWS", alg=header["alg"])
        assert compact.header == header and compact.header is not header
