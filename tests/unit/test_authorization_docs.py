"""docs/authorization.md: its worked HMAC example and its Python recipe are right."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from rampwire.authorization import sign
from rampwire.settings import Secret

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
SECTION = "## For the partner: verifying the HMAC signature"


def _partner_section() -> str:
    return DOC.read_text(encoding="utf-8").split(SECTION, 1)[1]


def _example() -> tuple[str, bytes, str, str]:
    section = _partner_section()
    secret = re.search(r"the secret `([^`]+)`", section)
    body = re.search(r"```json\n(.+?)\n```", section, re.DOTALL)
    timestamp = re.search(r"X-Rampwire-Timestamp: (\d+)", section)
    signature = re.search(r"X-Rampwire-Signature: (v1=[0-9a-f]{64})", section)
    assert secret and body and timestamp and signature
    return secret[1], body[1].encode(), timestamp[1], signature[1]


def _recipe() -> Any:
    code = re.search(r"```python\n(.+?)\n```", _partner_section(), re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code[1], str(DOC), "exec"), namespace)
    return namespace["verify_rampwire"]


def test_worked_example_is_what_rampwire_signs() -> None:
    secret, body, timestamp, signature = _example()
    assert sign(Secret(secret), int(timestamp), body) == signature


def test_python_recipe_accepts_a_fresh_signature() -> None:
    secret, body, _, _ = _example()
    now = int(time.time())
    signature = sign(Secret(secret), now, body)
    verify_rampwire = _recipe()
    assert verify_rampwire(secret, body, str(now), signature) is True
    assert verify_rampwire(secret, body, str(now), f"v1={'0' * 64}, {signature}") is True


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "old", "garbage", "non_ascii"],
)
def test_python_recipe_refuses(tamper: str) -> None:
    secret, body, _, _ = _example()
    now = int(time.time())
    signature = sign(Secret(secret), now, body)
    timestamp = str(now)
    if tamper == "body":
        body += b" "
    elif tamper == "secret":
        secret += "x"
    elif tamper == "old":
        timestamp = str(now - 301)
        signature = sign(Secret(secret), now - 301, body)
    elif tamper == "garbage":
        signature = "v1=zz"
    else:
        timestamp = "١٧١٨"
    assert _recipe()(secret, body, timestamp, signature) is False
