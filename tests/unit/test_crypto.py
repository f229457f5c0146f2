"""Secrets at rest: round trip, binding to context, tampering, master key handling."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.crypto import (
    CryptoError,
    SecretBox,
    key_id,
    load_master_key,
    load_master_keys,
    new_master_key,
    parse_master_key,
    write_key_file,
)
from rampwire.settings import Secret, Settings


def test_round_trip_and_context_binding() -> None:
    box = SecretBox(parse_master_key(new_master_key()))
    sealed = box.encrypt("whsec_abc", context="endpoint:ep_1")
    assert "whsec_abc" not in sealed
    assert box.decrypt(sealed, context="endpoint:ep_1").reveal() == "whsec_abc"
    with pytest.raises(CryptoError):
        box.decrypt(sealed, context="endpoint:ep_2")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(CryptoError):
        box.decrypt(tampered, context="endpoint:ep_1")
    other = SecretBox(parse_master_key(new_master_key()))
    with pytest.raises(CryptoError):
        other.decrypt(sealed, context="endpoint:ep_1")
    with pytest.raises(CryptoError):
        box.decrypt("garbage", context="endpoint:ep_1")


_BOX = SecretBox(bytes(range(32)))


@given(
    plaintext=st.text(max_size=40),
    cut=st.integers(min_value=0, max_value=80),
    junk=st.text(alphabet="-_+/=A\n é", max_size=3),
)
def test_decrypt_reads_the_base64_as_urlsafe_b64decode_does(
    plaintext: str, cut: int, junk: str
) -> None:
    """The decode in ``_open`` (binascii on the translated bytes) accepts exactly the encodings
    ``base64.urlsafe_b64decode`` accepts, with the same bytes, mangled ones included."""
    sealed = _BOX.encrypt(plaintext, context="c")
    head, encoded = sealed.rsplit(":", 1)
    mangled = encoded[:cut] + junk + encoded[cut:]
    try:
        expected: str | None = base64.urlsafe_b64decode(mangled).hex()
    except ValueError:
        expected = None
    try:
        _BOX.decrypt(f"{head}:{mangled}", context="c")
    except CryptoError:
        opened = False
    else:
        opened = True
    if expected is None:
        assert not opened
    elif expected == base64.urlsafe_b64decode(encoded).hex():
        assert opened
    else:
        assert not opened  # other bytes: the tag does not match


def test_embedded_default_generates_one_key_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///x", data_dir=tmp_path)
    first = load_master_key(settings)
    assert load_master_key(settings) == first
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600


def test_configured_master_key_wins_and_bad_ones_are_clear(tmp_path: Path) -> None:
    key = new_master_key()
    settings = Settings(database_url="sqlite:///x", data_dir=tmp_path, master_key=Secret(key))
    assert load_master_key(settings) == parse_master_key(key)
    assert not (tmp_path / "master.key").exists()
    for bad in ("short", "!!!!"):
        with pytest.raises(CryptoError):
            parse_master_key(bad)


def test_a_ciphertext_names_its_key_and_a_previous_key_still_decrypts() -> None:
    old, new = parse_master_key(new_master_key()), parse_master_key(new_master_key())
    sealed = SecretBox(old).encrypt("tok", context="source:src_1")
    assert sealed.startswith(f"v2:{key_id(old)}:")
    rotating = SecretBox(new, previous=[old])
    assert not rotating.is_current(sealed)
    assert rotating.decrypt(sealed, context="source:src_1").reveal() == "tok"
    resealed = rotating.reseal(sealed, context="source:src_1")
    assert rotating.is_current(resealed) and rotating.reseal(resealed, context="source:src_1") == (
        resealed
    )
    assert SecretBox(new).decrypt(resealed, context="source:src_1").reveal() == "tok"
    with pytest.raises(CryptoError, match=key_id(old)):
        SecretBox(new).decrypt(sealed, context="source:src_1")


def test_v1_ciphertexts_without_a_key_id_are_tried_with_every_key() -> None:
    old, new = parse_master_key(new_master_key()), parse_master_key(new_master_key())
    sealed = SecretBox(old).encrypt("tok", context="c")
    legacy = "v1:" + sealed.split(":", 2)[2]  # the format before key ids
    assert SecretBox(new, previous=[old]).decrypt(legacy, context="c").reveal() == "tok"
    with pytest.raises(CryptoError):
        SecretBox(new).decrypt(legacy, context="c")


def test_the_key_file_lists_the_current_key_first_then_previous_ones(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///x", data_dir=tmp_path)
    old = load_master_key(settings)
    new = new_master_key()
    write_key_file(tmp_path / "master.key", [new, base64.urlsafe_b64encode(old).decode()])
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert load_master_keys(settings) == (parse_master_key(new), [old])
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary file left


def test_previous_keys_come_from_the_environment_too(tmp_path: Path) -> None:
    current, old = new_master_key(), new_master_key()
    settings = Settings.from_env(
        {
            "RAMPWIRE_DATA_DIR": str(tmp_path),
            "RAMPWIRE_MASTER_KEY": current,
            "RAMPWIRE_MASTER_KEY_PREVIOUS": f" {old} ,",
        }
    )
    assert "Secret('**********')" in repr(settings.previous_master_keys)
    assert load_master_keys(settings) == (parse_master_key(current), [parse_master_key(old)])
