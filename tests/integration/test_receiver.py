"""The receiver kit against rampwire's own deliveries: a real worker sends to a real receiver on
127.0.0.1 that verifies each request with the kit and answers 401 when it cannot, on SQLite and
PostgreSQL; the orders folded from what arrived equal the API's."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
from standardwebhooks.webhooks import Webhook
from tests.support.provider_endpoints import (
    TRANSAK_TOKEN,
    WALLET,
    change,
    fetch_jwks,
    final,
    make_endpoint,
    make_order,
)
from tests.support.receivers import Received, receiver

from rampwire.receiver import (
    OrderState,
    ProviderVerifier,
    Verifier,
    WebhookVerificationError,
    fold,
)


def answer_with(verify: Callable[[Received], object]) -> Callable[[Received], int]:
    def answer(got: Received) -> int:
        try:
            verify(got)
        except WebhookVerificationError:
            return 401
        return 204

    return answer


def tampered(body: bytes) -> bytes:
    """The body with its order's status changed: inside Transak's JWT claims, or in the JSON."""
    document = json.loads(body)
    token = document.get("data")
    if isinstance(token, str) and token.count(".") == 2:
        header, claims, signature = token.split(".")
        decoded = base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))
        changed = decoded.replace(b"COMPLETED", b"CANCELLED")
        assert changed != decoded
        claims = base64.urlsafe_b64encode(changed).rstrip(b"=").decode()
        return json.dumps({"data": f"{header}.{claims}.{signature}"}).encode()
    changed_body = body.replace(b"COMPLETED", b"CANCELLED")
    assert changed_body != body
    return changed_body


async def test_standard_deliveries_verify_with_the_kit_and_fold_into_the_order(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, "http://127.0.0.1:1/unused", event_types=["order.*"])
        verifier = Verifier(endpoint["secret"])
        hooks.answer = answer_with(lambda got: verifier.verify(got.headers, got.body))
        await api.patch(f"/v1/endpoints/{endpoint['id']}", json={"url": hooks.url})
        order = await make_order(api)
        for status in ("payment_received", "processing", "completed"):
            await change(api, order["id"], {"status": status})
        got = await hooks.wait_for(4)
        sent = await final(api, endpoint["id"], 4)
    assert {d["status"] for d in sent} == {"succeeded"}  # every request verified: no 401
    official = Webhook(endpoint["secret"])
    for request in got:
        assert official.verify(request.body, request.headers) == json.loads(request.body)
    state = OrderState()
    state.add_all(reversed([json.loads(r.body) for r in got]))
    current = (await api.get(f"/v1/orders/{order['id']}")).json()
    assert state.complete and state.sequence == current["version"] == 4
    assert state.order == current


async def test_during_a_rotation_either_secret_verifies_and_a_wrong_one_is_refused(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, event_types=["order.*"])
        old = endpoint["secret"]
        rotated = await api.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secrets"][0]["secret"]
        await make_order(api)
        [request] = await hooks.wait_for(1)
    assert len(request.headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Verifier(secret).verify(request.headers, request.body)["type"] == "order.created"
    stranger = Verifier("whsec_" + base64.b64encode(bytes(32)).decode())
    try:
        stranger.verify(request.headers, request.body)
    except WebhookVerificationError as error:
        assert error.reason == "signature_mismatch"
    else:
        raise AssertionError("a secret the endpoint never had verified its request")


async def test_provider_deliveries_verify_with_the_dialect_kit(api: httpx.AsyncClient) -> None:
    """Transak (a JWT under the endpoint's access token) and Fireblocks (rampwire's RSA key,
    verified with the published JWKS), each read back into the order's canonical statuses."""
    async with receiver() as transak_hooks, receiver() as fireblocks_hooks:
        transak = await make_endpoint(
            api, transak_hooks.url, dialect="transak", secret=TRANSAK_TOKEN, event_types=["order.*"]
        )
        await make_endpoint(
            api, fireblocks_hooks.url, dialect="fireblocks", event_types=["order.*"]
        )
        order = await make_order(
            api,
            "buy",
            fiat={"currency": "EUR", "amount": "100"},
            crypto={"asset": "USDT", "network": "ETH", "amount": "98.5"},
            wallet_address=WALLET,
        )
        await change(api, order["id"], {"status": "completed"})
        transak_got = await transak_hooks.wait_for(2)
        fireblocks_got = await fireblocks_hooks.wait_for(2)
        jwks_text, _ = await fetch_jwks(api)
        await final(api, transak["id"], 2)
    for verifier, got in (
        (ProviderVerifier("transak", [TRANSAK_TOKEN]), transak_got),
        (ProviderVerifier("fireblocks", [jwks_text]), fireblocks_got),
    ):
        statuses = []
        for request in got:
            [event] = verifier.verify(request.headers, request.body)
            statuses.append(event.status.value if event.status else None)
        assert statuses[-1] == "completed", statuses
        try:
            verifier.verify(request.headers, tampered(request.body))
        except WebhookVerificationError:
            pass
        else:
            raise AssertionError(f"{verifier.dialect.name}: a changed body verified")


async def test_fold_rebuilds_every_order_from_a_mixed_stream(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        await make_endpoint(api, hooks.url, event_types=["order.*"])
        first, second = await make_order(api), await make_order(api)
        await change(api, first["id"], {"status": "cancelled"})
        got = await hooks.wait_for(3)
    states = fold(json.loads(r.body) for r in reversed(got))
    assert {k: v.status for k, v in states.items()} == {
        first["id"]: "cancelled",
        second["id"]: "created",
    }


async def test_a_gap_is_filled_from_the_endpoints_pending_events(api: httpx.AsyncClient) -> None:
    """The receiver refuses sequence 2 once (its retry is ten minutes away): the state shows
    the gap, and the pull API (`pending-events`) fills it."""

    def refuse_the_second(got: Received) -> int:
        return 503 if json.loads(got.body)["data"]["sequence"] == 2 else 204

    async with receiver() as hooks:
        hooks.answer = refuse_the_second
        endpoint = await make_endpoint(
            api,
            hooks.url,
            event_types=["order.*"],
            retry_policy={"retry_delays": [600], "jitter": 0.0},
        )
        order = await make_order(api)
        await change(api, order["id"], {"status": "payment_received"})
        await change(api, order["id"], {"status": "processing"})
        got = await hooks.wait_for(3)
        await final(api, endpoint["id"], 2)
    state = OrderState()
    state.add_all(json.loads(r.body) for r in got if r.body and hooks.answer(r) == 204)
    assert (state.sequence, state.missing, state.status) == (3, (2,), "processing")

    async def pull(order_id: str, missing: tuple[int, ...]) -> list[dict[str, object]]:
        page = (await api.get(f"/v1/endpoints/{endpoint['id']}/pending-events")).json()
        return [item["event"] for item in page["data"]]

    assert await state.fill(pull) == ()
    assert [e["data"]["sequence"] for e in state.events] == [1, 2, 3]
    assert state.order == (await api.get(f"/v1/orders/{order['id']}")).json()
