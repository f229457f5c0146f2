"""Provider endpoints, end to end, on SQLite and PostgreSQL: every provider's lifecycle in its
own format, decoded by its dialect and checked independently, and the attempt log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.support.provider_endpoints import (
    CHECKS,
    CUSTOM_HEADER,
    CUSTOM_VALUE,
    REDACTED,
    SABER_SECRET,
    SIGNATURE_HEADERS,
    TRANSAK_TOKEN,
    WALLET,
    change,
    delivery,
    fetch_jwks,
    final,
    lowered,
    make_endpoint,
    make_order,
)
from tests.support.receivers import Received, receiver

from rampwire.dialects import get_dialect
from rampwire.domain.orders import OrderStatus
from rampwire.types import utcnow

# --- 1 and 7: every provider's format, decoded by its own dialect; the attempt log ---------


@dataclass(frozen=True)
class Step:
    change: dict[str, Any]  # the body of POST /v1/orders/{id}/changes; {} for the creation
    wire: str  # the provider event sent, as DecodedEvent.provider_event spells it
    reads_as: str  # the canonical status the dialect's decoder gives back


@dataclass(frozen=True)
class Case:
    dialect: str
    side: str
    steps: tuple[Step, ...]
    secret: str | None = None  # given at creation; None: the API makes one
    currency: str = "EUR"


def _to(status: str) -> dict[str, Any]:
    return {"status": status}


CASES = [
    Case(
        "revolut",
        "buy",
        (
            Step({}, "ORDER_CREATED", "created"),
            Step(_to("payment_received"), "ORDER_PROCESSING", "processing"),
            # order.updated: the order's current status, in Revolut's coarser terms
            Step({"set": {"note": "checked by operations"}}, "ORDER_PROCESSING", "processing"),
            Step(_to("completed"), "ORDER_COMPLETED", "completed"),
        ),
    ),
    Case(
        "saber",
        "buy",
        (
            Step({}, "CRYPTO_BUY/CREATED", "payment_submitted"),
            Step(_to("payment_verifying"), "CRYPTO_BUY/ONRAMP_INITIATED", "payment_verifying"),
            Step(_to("payment_received"), "CRYPTO_BUY/ONRAMP_COMPLETED", "payment_received"),
            Step(_to("completed"), "CRYPTO_BUY/COMPLETED", "completed"),
        ),
        currency="INR",
    ),
    Case(
        "saber",
        "sell",
        (
            Step({}, "SELL/CREATED", "created"),
            Step(_to("payment_received"), "deposit/COMPLETED", "payment_received"),
            Step(_to("processing"), "SELL/PROCESSING", "processing"),
            Step(_to("completed"), "SELL/COMPLETED", "completed"),
        ),
        secret=SABER_SECRET,
        currency="INR",
    ),
    Case(
        "fireblocks",
        "buy",
        (
            Step({}, "order.updated/CREATED", "created"),
            Step(_to("processing"), "order.updated/PROCESSING", "processing"),
            # FAILED with failure reason ORDER_EXPIRED reads back as expired
            Step(_to("expired"), "order.updated/FAILED", "expired"),
        ),
    ),
    Case(
        "fireblocks",
        "sell",
        (
            Step({}, "order.updated/CREATED", "created"),
            Step(_to("awaiting_payment"), "order.updated/AWAITING_PAYMENT", "awaiting_payment"),
            Step(_to("completed"), "order.updated/COMPLETED", "completed"),
        ),
    ),
    Case(
        "koywe",
        "buy",
        (
            Step({}, "payment_created", "created"),
            Step(_to("payment_received"), "payment_received", "payment_received"),
            Step(_to("delivery_sent"), "crypto_tx_sent", "delivery_sent"),
            Step(_to("completed"), "crypto_delivered", "completed"),
        ),
    ),
    Case(
        "koywe",
        "sell",
        (
            Step({}, "payment_created", "created"),
            Step(_to("delivery_sent"), "fiat_sent", "delivery_sent"),
            Step(_to("completed"), "fiat_delivered", "completed"),
        ),
    ),
    Case(
        "transak",
        "buy",
        (
            Step({}, "ORDER_CREATED/AWAITING_PAYMENT_FROM_USER", "awaiting_payment"),
            Step(
                _to("payment_submitted"),
                "ORDER_PAYMENT_VERIFYING/PAYMENT_DONE_MARKED_BY_USER",
                "payment_submitted",
            ),
            Step(_to("payment_received"), "ORDER_PROCESSING/PROCESSING", "payment_received"),
            Step(_to("completed"), "ORDER_COMPLETED/COMPLETED", "completed"),
        ),
        secret=TRANSAK_TOKEN,
    ),
    Case(
        "transak",
        "sell",
        (
            Step({}, "ORDER_CREATED/AWAITING_PAYMENT_FROM_USER", "awaiting_payment"),
            Step(
                _to("payment_received"),
                "ORDER_PROCESSING/PENDING_DELIVERY_FROM_TRANSAK",
                "processing",
            ),
            Step(_to("refunded"), "ORDER_REFUNDED/REFUNDED", "refunded"),
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.dialect}-{c.side}")
async def test_a_provider_endpoint_receives_the_lifecycle_in_that_providers_format(
    api: httpx.AsyncClient, case: Case
) -> None:
    dialect = get_dialect(case.dialect)
    async with receiver() as hooks:
        given = {} if case.secret is None else {"secret": case.secret}
        endpoint = await make_endpoint(
            api,
            hooks.url,
            dialect=case.dialect,
            event_types=["order.*"],
            headers={CUSTOM_HEADER: CUSTOM_VALUE},
            **given,
        )
        assert endpoint["dialect"] == case.dialect and endpoint["retry_policy"] is None
        secret: str | None = endpoint["secret"]
        if case.dialect == "fireblocks":
            assert secret is None  # rampwire's own key signs
        elif case.secret is not None:
            assert secret == case.secret
        else:
            assert secret is not None and len(secret) >= 16
            assert secret.startswith("wsk_") == (case.dialect == "revolut")

        provider_order_id = f"{case.dialect}-{case.side}-order-0001"
        order = await make_order(
            api,
            case.side,
            provider=case.dialect,
            provider_order_id=provider_order_id,
            fiat={"currency": case.currency, "amount": "850" if case.currency == "INR" else "100"},
            crypto={"asset": "USDT", "network": "ETH", "amount": "98.5"},
            wallet_address=WALLET,
        )
        key_material = ""
        for index, step in enumerate(case.steps):
            if step.change:
                await change(api, order["id"], step.change)
            got = (await hooks.wait_for(index + 1))[index]
            if case.dialect == "fireblocks":
                key_material, _ = await fetch_jwks(api)  # the key the worker made, published
                credentials = dialect.credentials_from_secrets([key_material])
            else:
                assert secret is not None
                key_material = secret
                credentials = dialect.credentials_from_secrets([secret])
            [event] = dialect.decode(got.headers, got.body, credentials, now=utcnow())
            assert event.provider_event == step.wire
            assert event.status is OrderStatus(step.reads_as)
            assert event.provider_order_id == provider_order_id
            assert lowered(got.headers)["content-type"].startswith("application/json")
            assert lowered(got.headers)[CUSTOM_HEADER.lower()] == CUSTOM_VALUE
            CHECKS[case.dialect](got, key_material, step.wire, provider_order_id)

        sent = await final(api, endpoint["id"], len(case.steps))
        assert [d["status"] for d in sent] == ["succeeded"] * len(case.steps)
        assert len(hooks.requests) == len(case.steps)
        await _check_attempt_log(api, sent, hooks.requests, case.dialect, secret)


async def _check_attempt_log(
    api: httpx.AsyncClient,
    sent: list[dict[str, Any]],
    requests: list[Received],
    dialect: str,
    secret: str | None,
) -> None:
    """Each attempt logs the provider body actually sent and every header as sent, except the
    endpoint's own custom header; the secret appears nowhere."""
    unmatched = list(requests)
    for item in sent:
        detail = await delivery(api, item["id"])
        [attempt] = detail["attempt_log"]
        logged = lowered(attempt["request"]["headers"])
        assert logged.pop(CUSTOM_HEADER.lower()) == REDACTED
        assert set(SIGNATURE_HEADERS[dialect]) | {"content-type", "user-agent"} <= set(logged)
        # the bytes sent (not the stored standard envelope), and every other header as sent:
        # not redacted, not altered
        matching = [
            request
            for request in unmatched
            if request.body.decode() == attempt["request"]["body"]
            and all(lowered(request.headers).get(k) == v for k, v in logged.items())
        ]
        assert matching, (attempt["request"], unmatched)
        unmatched.remove(matching[0])
        assert attempt["response"]["status"] == 200 and attempt["error_class"] is None
        assert CUSTOM_VALUE not in json.dumps(detail)
        if secret is not None:
            assert secret not in json.dumps(detail)
