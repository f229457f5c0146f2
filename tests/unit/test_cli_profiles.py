"""The CLI's profile file: written 0600 and read back; a broken file is a clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import click
import pytest

from rampwire.cli.profiles import Profile, load, save


def test_profiles_are_written_owner_only_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "rampwire" / "config.toml"
    path.parent.mkdir()
    path.write_text("")
    path.chmod(0o644)  # an older file: its mode is narrowed too
    profiles = {
        "prod": Profile("prod", "https://rampwire.example", 'rw_"quoted"\\key'),
        "a b": Profile("a b", "http://127.0.0.1:8080", None),
    }
    save(profiles, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(path) == profiles


def test_no_file_is_no_profiles(tmp_path: Path) -> None:
    assert load(tmp_path / "missing.toml") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[profiles\n", "cannot read"),
        ("profiles = 3\n", "[profiles] must be a table"),
        ("[profiles.x]\nurl = 3\n", "[profiles.x] must hold url and api_key strings"),
    ],
)
def test_a_broken_file_is_a_clear_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(click.ClickException) as raised:
        load(path)
    assert says in raised.value.message
