"""What rampwire sends to the partner: who the user is, what they want to do, and on which order.

The body is one JSON object, compact UTF-8, money as decimal strings::

    {"request_id": "azr_01J...", "operation": "buy",
     "email": "ana@example.com", "user_reference": "cus_42",
     "order": {"id": null, "side": "buy", "provider": "koywe",
               "fiat": {"currency": "CLP", "amount": "100000"},
               "crypto": {"asset": "USDC", "network": "POLYGON", "amount": "105.20"},
               "wallet_address": "0xabc..."}}

``email`` sits at the top level, as in Koywe's ``{"email": ...}``, so a partner endpoint written
for Koywe reads it unchanged. Absent values are ``null``; ``order`` is ``null`` when the operation
concerns no particular order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ..domain import serde
from ..domain.money import Crypto, Money
from ..domain.orders import Order, OrderData, Provider, Side
from ..types import JSONObject
from .config import Operation

REQUEST_ID_PREFIX: Final = "azr"
MAX_EMAIL_LENGTH: Final = 254  # characters (RFC 5321 path limit)
MAX_REFERENCE_LENGTH: Final = 256  # characters

_CONTROL_OR_SPACE_RE = re.compile(r"[\x00-\x20\x7f]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, kw_only=True, slots=True)
class Subject:
    """The user the partner is asked about: an email, the partner's own reference, or both."""

    email: str | None = None
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.email is None and self.reference is None:
            raise ValueError("a subject needs an email or a reference")
        if self.email is not None:
            if (
                not isinstance(self.email, str)
                or "@" not in self.email
                or len(self.email) > MAX_EMAIL_LENGTH
                or _CONTROL_OR_SPACE_RE.search(self.email)
            ):
                raise ValueError(
                    f"email must be an address of at most {MAX_EMAIL_LENGTH} characters, "
                    "without spaces"
                )
        if self.reference is not None:
            if (
                not isinstance(self.reference, str)
                or not self.reference.strip()
                or len(self.reference) > MAX_REFERENCE_LENGTH
                or _CONTROL_RE.search(self.reference)
            ):
                raise ValueError(
                    f"reference must be 1 to {MAX_REFERENCE_LENGTH} characters, "
                    "without control characters"
                )

    @classmethod
    def from_order(cls, order: OrderData) -> Subject:
        """The order's ``references.user_email`` and ``references.partner_customer_id``.

        Raises ValueError when the order carries neither.
        """
        refs = order.references
        return cls(email=refs.user_email, reference=refs.partner_customer_id)

    def __str__(self) -> str:
        return self.email if self.email is not None else f"ref:{self.reference}"


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderSummary:
    """The part of an order the partner may need to decide."""

    side: Side
    order_id: str | None = None  # None before the order exists
    provider: Provider | None = None
    fiat: Money | None = None
    crypto: Crypto | None = None
    wallet_address: str | None = None

    @classmethod
    def from_order(cls, order: OrderData) -> OrderSummary:
        """Summarise an order, or the data of one about to be created (no id yet)."""
        return cls(
            side=order.side,
            order_id=order.id if isinstance(order, Order) else None,
            provider=order.provider,
            fiat=order.fiat,
            crypto=order.crypto,
            wallet_address=order.wallet_address,
        )

    def to_dict(self) -> JSONObject:
        return {
            "id": self.order_id,
            "side": self.side.value,
            "provider": None if self.provider is None else self.provider.value,
            "fiat": None if self.fiat is None else serde.dump(self.fiat),
            "crypto": None if self.crypto is None else serde.dump(self.crypto),
            "wallet_address": self.wallet_address,
        }


def encode_request(
    *,
    request_id: str,
    operation: Operation,
    subject: Subject,
    order: OrderSummary | None,
) -> bytes:
    """The request body, exactly as sent (and, with HMAC, as signed)."""
    body: JSONObject = {
        "request_id": request_id,
        "operation": operation.value,
        "email": subject.email,
        "user_reference": subject.reference,
        "order": None if order is None else order.to_dict(),
    }
    return serde.to_json(body)
