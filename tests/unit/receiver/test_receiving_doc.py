"""docs/receiving.md's Python example runs as written against a request rampwire signs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rampwire.dialects import standard
from rampwire.dialects.ed25519 import generate_webhook_key
from rampwire.types import utcnow

DOC = Path(__file__).resolve().parents[3] / "docs" / "receiving.md"


def test_the_guides_handler_accepts_rampwires_request_and_refuses_a_forged_one() -> None:
    example = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    new, old, key = standard.generate_secret(), standard.generate_secret(), generate_webhook_key()
    example = example.replace('"whsec_NEW..."', repr(new)).replace('"whsec_OLD..."', repr(old))
    example = example.replace('"whpk_..."', repr(key.public_key))
    scope: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), scope)
    body = (
        b'{"id":"evt_1","type":"order.created",'
        b'"data":{"order":{"id":"ord_1","status":"created"},"sequence":1}}'
    )
    credentials = standard.StandardCredentials(
        secrets=(standard.Secret(old),), ed25519_key=key.private
    )
    headers = standard.sign("evt_1", body, credentials, now=utcnow()).headers
    assert scope["handle"](headers, body) == 204
    assert scope["orders"]["ord_1"].status == "created"
    assert scope["handle"](headers, body.replace(b"created", b"completed")) == 401
