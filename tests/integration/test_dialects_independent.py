"""Koywe's signatures, checked by JavaScript itself: Node.js's JSON.stringify and crypto.

Each batch runs one ``node -e`` process; the cases go in on stdin and the answers come back on
stdout, so no file is left behind. For every case Node.js (1) serialises the payload with
``JSON.stringify`` (compared byte for byte with rampwire's), (2) signs it with
``crypto.createHmac``, and (3) verifies the body rampwire encoded, as a Koywe receiver written in
JavaScript would: parse it, drop ``signature``, re-stringify, compare.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import KoyweCredentials, MalformedPayload, OutboundEvent
from rampwire.dialects import koywe as ky
from rampwire.dialects.jsjson import stringify
from rampwire.domain.orders import Order, OrderStatus, Provider, Side
from rampwire.settings import Secret

NODE = shutil.which("node")
SECRET = 'koywe-partner-secret-ñ/"x"'  # the secret itself is UTF-8 too
NOW = datetime(2024, 1, 15, 10, 30, 0, 658000, tzinfo=UTC)

SCRIPT = r"""
const crypto = require('crypto');
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { secret, cases } = JSON.parse(input);
  const hmac = (text) => crypto.createHmac('sha256', secret).update(text).digest('hex');
  const out = cases.map(({ payload, body }) => {
    const text = JSON.stringify(payload);
    let verified = null;
    if (body !== null) {
      const received = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
      const { signature, ...rest } = received;
      verified = hmac(JSON.stringify(rest)) === signature;
    }
    return { stringified: Buffer.from(text, 'utf8').toString('base64'), signature: hmac(text),
             verified };
  });
  process.stdout.write(JSON.stringify(out));
});
"""

TRICKY = [
    "5a3288ea-0bd4-44d2-af11-aae1f88bbd61",
    "ñandú Åström Ωμέγα 中文 العربية",
    "a/b//c\\/d",
    'quote " and \\ backslash \\" both',
    "\b\f\n\r\t\x00\x01\x1f\x7f",
    "emoji 😀👩‍👩‍👧 🇨🇱",
    "line\u2028para\u2029sep",
    "lone \ud800 high, lone \udc00 low, reversed \ude00\ud83d",
    "</script><!-- -->",
    "",
]


def _node(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if NODE is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js is required in CI for the Koywe signature checks")
        pytest.skip("Node.js is not installed")
    # ensure_ascii: lone surrogates travel as \udxxx escapes, which JSON.parse turns back into
    # lone UTF-16 code units: exactly the JavaScript strings under test
    stdin = json.dumps({"secret": SECRET, "cases": cases})
    done = subprocess.run(
        [NODE, "-e", SCRIPT],
        input=stdin.encode("ascii"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def _order(order_id: str, side: Side) -> Order:
    return Order(
        id="ord_01HMB3K2Y5Z7QF0000000000AB",
        side=side,
        provider=Provider.KOYWE,
        provider_order_id=order_id,
        status=OrderStatus.COMPLETED,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


def _check(order_ids: list[str]) -> None:
    credentials = KoyweCredentials(secrets=(Secret(SECRET),))
    cases, bodies = [], []
    for index, order_id in enumerate(order_ids):
        side = Side.BUY if index % 2 else Side.SELL
        event = OutboundEvent(id="evt_1", type="order.completed", created_at=NOW)
        body = ky.encode(event, _order(order_id, side), credentials, now=NOW).body
        payload = {k: v for k, v in json.loads(body).items() if k != "signature"}
        cases.append({"payload": payload, "body": base64.b64encode(body).decode()})
        bodies.append((body, payload))
    for answer, (body, payload) in zip(_node(cases), bodies, strict=True):
        assert base64.b64decode(answer["stringified"]) == stringify(payload)
        assert json.loads(body)["signature"] == answer["signature"]
        assert answer["verified"] is True
        if any(0xD800 <= ord(c) <= 0xDFFF for c in payload["orderId"]):
            # authentic, but unpaired surrogates cannot be stored as UTF-8: refused up front
            with pytest.raises(MalformedPayload):
                ky.decode({}, body, credentials, now=NOW)
            continue
        [decoded] = ky.decode({}, body, credentials, now=NOW)
        assert decoded.provider_order_id == payload["orderId"]


def test_node_agrees_on_tricky_order_ids() -> None:
    _check(TRICKY)


@settings(max_examples=5, deadline=None)
@given(st.lists(st.text(st.characters(), max_size=30), min_size=40, max_size=40))
def test_node_agrees_on_any_text(order_ids: list[str]) -> None:
    _check(order_ids)


@settings(max_examples=3, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60),
        min_size=50,
        max_size=50,
    )
)
def test_node_agrees_on_numbers(values: list[float]) -> None:
    payloads = [{"n": value, "nested": [value, {"m": value}]} for value in values]
    answers = _node([{"payload": p, "body": None} for p in payloads])
    for answer, payload in zip(answers, payloads, strict=True):
        assert base64.b64decode(answer["stringified"]) == stringify(payload)
