"""docs/receiving.md's Node.js verifier, run by a real ``node`` against requests rampwire signs:
v1 under either secret of a rotation, v1a under the published key; forged, stale and future
requests refused."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from rampwire.dialects import standard
from rampwire.dialects.ed25519 import generate_webhook_key
from rampwire.types import utcnow

DOC = Path(__file__).resolve().parents[2] / "docs" / "receiving.md"
NODE = shutil.which("node")
HARNESS = """
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(input.map((c) => {
  try { return verify(c.headers, Buffer.from(c.body, "base64")).id; }
  catch (e) { return "refused: " + e.message; }
})));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_node_example_verifies_v1_and_v1a_and_refuses_the_rest() -> None:
    assert NODE is not None
    script = re.findall(r"```js\n(.*?)```", DOC.read_text(), re.S)[0]
    new, old, key = standard.generate_secret(), standard.generate_secret(), generate_webhook_key()
    script = script.replace('"whsec_NEW..."', json.dumps(new)).replace(
        '"whsec_OLD..."', json.dumps(old)
    )
    script = script.replace('"whpk_..."', json.dumps(key.public_key))
    body = b'{"id":"evt_1","type":"order.created","data":{}}'
    now = utcnow()

    def signed(credentials: standard.StandardCredentials, at: timedelta = timedelta(0)) -> dict:
        headers = standard.sign("evt_1", body, credentials, now=now + at).headers
        return {"headers": headers, "body": base64.b64encode(body).decode()}

    secrets = (standard.Secret(old),)
    v1 = standard.StandardCredentials(secrets=secrets)
    v1a = standard.StandardCredentials(
        secrets=secrets, ed25519_key=key.private, hmac_signatures=False
    )
    stranger = standard.StandardCredentials(
        secrets=secrets, ed25519_key=generate_webhook_key().private, hmac_signatures=False
    )
    forged = signed(v1)
    forged["body"] = base64.b64encode(body.replace(b"created", b"completed")).decode()
    cases = [
        signed(v1),
        signed(v1a),
        forged,
        signed(stranger),
        signed(v1, timedelta(minutes=-6)),
        signed(v1, timedelta(minutes=6)),
    ]
    answer = subprocess.run(
        [NODE, "-e", script + HARNESS],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(answer.stdout) == [
        "evt_1",
        "evt_1",
        "refused: no matching signature",
        "refused: no matching signature",
        "refused: outside window",
        "refused: outside window",
    ]
