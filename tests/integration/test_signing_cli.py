"""``rampwire signing-key``, on the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from rampwire.cli.main import main


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"RAMPWIRE_DATA_DIR": str(tmp_path), "RAMPWIRE_DATABASE_URL": None}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_the_signing_key_is_shown_and_rotated(tmp_path: Path) -> None:
    code, out = run(tmp_path, "signing-key", "show")
    assert code == 0, out
    first = orjson.loads(out)["keys"]
    assert len(first) == 1 and first[0]["kty"] == "RSA" and "d" not in first[0]
    assert run(tmp_path, "signing-key", "show") == (0, out)  # persisted, not made again
    code, out = run(tmp_path, "signing-key", "rotate")
    rotated = orjson.loads(out)["keys"]
    assert code == 0 and len(rotated) == 2
    assert rotated[1]["kid"] == first[0]["kid"] != rotated[0]["kid"]  # the new one signs first


def test_the_ed25519_key_is_shown_and_rotated_apart_from_the_rsa_one(tmp_path: Path) -> None:
    code, out = run(tmp_path, "signing-key", "show", "--ed25519")
    assert code == 0, out
    [first] = orjson.loads(out)["keys"]
    assert (first["kty"], first["crv"]) == ("OKP", "Ed25519") and "d" not in first
    assert first["whpk"].startswith("whpk_")
    code, out = run(tmp_path, "signing-key", "rotate", "--ed25519")
    rotated = orjson.loads(out)["keys"]
    assert code == 0 and [k["kid"] for k in rotated][1] == first["kid"] != rotated[0]["kid"]
    code, out = run(tmp_path, "signing-key", "show")  # the RSA key is its own
    assert code == 0 and [k["kty"] for k in orjson.loads(out)["keys"]] == ["RSA"]
