"""Secrets at rest: round trip, binding to context, tampering, master key handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampwire.crypto import (
    CryptoError,
    SecretBox,
    load_master_key,
    new_master_key,
    parse_master_key,
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
