"""`rampwire trigger`: one signed webhook in a provider's format, verified by the receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys

import jwt
from tests.support.receivers import receiver


async def run_trigger(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rampwire", "trigger", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_transak_token_verifies_with_pyjwt() -> None:
    async with receiver() as hooks:
        code, out, err = await run_trigger(
            "transak",
            "ORDER_COMPLETED",
            "--to",
            hooks.url,
            "--secret",
            "transak-access-token-0123456789abcdef",
            "--side",
            "sell",
        )
        assert code == 0, err
        [got] = hooks.requests
    claims = jwt.decode(
        json.loads(got.body)["data"], "transak-access-token-0123456789abcdef", algorithms=["HS256"]
    )
    assert claims["eventID"] == "ORDER_COMPLETED"
    assert claims["webhookData"]["isBuyOrSell"] == "SELL"
    assert "< 200" in out


async def test_koywe_signature_is_an_hmac_of_the_body_without_it() -> None:
    async with receiver() as hooks:
        code, _, err = await run_trigger(
            "koywe", "crypto_delivered", "--to", hooks.url, "--secret", "k"
        )
        assert code == 0, err
        [got] = hooks.requests
    body = json.loads(got.body)
    signature = body.pop("signature")
    signed = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert hmac.compare_digest(signature, hmac.new(b"k", signed, hashlib.sha256).hexdigest())


async def test_bad_usage_is_a_clear_error() -> None:
    code, _, err = await run_trigger("revolut", "completed", "--to", "http://127.0.0.1:9/")
    assert code != 0 and "needs --secret" in err and "Traceback" not in err
    code, _, err = await run_trigger(
        "revolut", "completed", "--to", "http://127.0.0.1:9/", "--secret", "s", "--side", "sell"
    )
    assert code != 0 and "Traceback" not in err


async def test_a_non_2xx_answer_exits_1() -> None:
    async with receiver() as hooks:
        hooks.answer = lambda _: 401
        code, out, err = await run_trigger("koywe", "completed", "--to", hooks.url, "--secret", "k")
    assert code == 1
    assert "< 401" in out
    assert "the receiver answered 401" in err


async def test_order_id_drives_one_order_step_by_step() -> None:
    async with receiver() as hooks:
        for event in ("ORDER_CREATED", "ORDER_PROCESSING", "ORDER_COMPLETED"):
            code, _, err = await run_trigger(
                "revolut", event, "--to", hooks.url, "--secret", "s", "--order-id", "rev-order-1"
            )
            assert code == 0, err
        bodies = [json.loads(got.body) for got in hooks.requests]
    assert [b["order_id"] for b in bodies] == ["rev-order-1"] * 3
    assert [b["event"] for b in bodies] == ["ORDER_CREATED", "ORDER_PROCESSING", "ORDER_COMPLETED"]
