"""The canonical order: one model for every provider, rich enough that no dialect loses data.

:class:`OrderData` holds what a caller or a provider says about an order; :class:`Order` adds its
identity, status and bookkeeping. Every record is a frozen, keyword-only dataclass; pydantic
validates and serialises them at the edges (:mod:`rampwire.serde`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, ConfigDict

from ..types import Amount, Timestamp, slot_function
from .execution import ExecutionDetails, ExecutionStep, Receipt, Settlement, Via
from .money import Crypto, Fee, Money
from .payments import PaymentInstructions

_FORBID = ConfigDict(extra="forbid")

ORDER_ID_PREFIX = "ord"
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 64  # characters
MAX_METADATA_VALUE_LENGTH = 500  # characters


class Side(StrEnum):
    BUY = "buy"  # on-ramp: fiat in, crypto out
    SELL = "sell"  # off-ramp: crypto in, fiat out


class OrderStatus(StrEnum):
    CREATED = "created"
    PENDING_USER_ACTION = "pending_user_action"
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_SUBMITTED = "payment_submitted"
    PAYMENT_VERIFYING = "payment_verifying"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAYMENT_RECEIVED = "payment_received"
    PROCESSING = "processing"
    ON_HOLD = "on_hold"
    DELIVERY_SENT = "delivery_sent"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.COMPLETED,
        OrderStatus.FAILED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
        OrderStatus.REFUNDED,
    }
)


class Provider(StrEnum):
    REVOLUT = "revolut"
    SABER = "saber"
    FIREBLOCKS = "fireblocks"
    KOYWE = "koywe"
    TRANSAK = "transak"


class FailureReason(StrEnum):
    """Why an order failed: Fireblocks' 17 reasons, plus the ones other providers name."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_REASON = "unknown_reason"
    INITIATE_PAYMENT_FAILURE = "initiate_payment_failure"
    POLICY_REJECTION = "policy_rejection"
    TRANSACTION_FAILED = "transaction_failed"
    ACCOUNT_NOT_ACTIVE = "account_not_active"
    ACCOUNT_NOT_FOUND = "account_not_found"
    BAD_REQUEST = "bad_request"
    QUOTE_NOT_READY = "quote_not_ready"
    INVALID_DATA = "invalid_data"
    UNSUPPORTED_CONVERSION = "unsupported_conversion"
    REFUNDED = "refunded"
    FAILED_BY_PROVIDER = "failed_by_provider"
    ORDER_EXPIRED = "order_expired"
    TRANSACTION_CANCELLED = "transaction_cancelled"
    TRANSACTION_REJECTED = "transaction_rejected"
    TRANSACTION_BLOCKED = "transaction_blocked"
    # Revolut's fail_reason values, and Saber's "payment not found"
    PAYMENT_NOT_RECEIVED = "payment_not_received"
    PAYMENT_DECLINED = "payment_declined"
    CRYPTO_WITHDRAWAL_FAILED = "crypto_withdrawal_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    reason: FailureReason
    description: str | None = None
    provider_code: str | None = None  # the provider's own code, kept verbatim
    info: dict[str, str] = field(default_factory=dict)  # Fireblocks failureInfo


@dataclass(frozen=True, kw_only=True, slots=True)
class Payment:
    """How the user paid or is paid: method, bank references and instructions."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    method: str | None = None  # upi_transfer, card, bank_transfer, sepa, pix...
    option_id: str | None = None  # Transak paymentOptionId
    bank_transaction_id: str | None = None  # Saber: the reconciled bank transfer
    bank_reference_id: str | None = None  # Saber sell: the payout's bank reference
    amount_paid: Amount | None = None  # Transak amountPaid
    instructions: PaymentInstructions | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AmountMismatch:
    """A payment of a different amount was found (Saber ONRAMP_INCONSISTENT)."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    received: Amount
    expected: Amount | None = None
    currency: str | None = None
    bank_transaction_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class References:
    """Identifiers that partners and providers attach to an order."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    partner_order_id: str | None = None  # Transak partnerOrderId
    partner_customer_id: str | None = None  # Transak partnerCustomerId
    customer_internal_reference_id: str | None = None  # Fireblocks
    user_id: str | None = None  # Saber user_id
    user_email: str | None = None  # Koywe email; the authorization callback's subject
    source_id: str | None = None  # Saber source_id
    quote_id: str | None = None  # Transak quoteId
    created_by: str | None = None  # Fireblocks createdBy


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"holds at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise ValueError(f"keys are 1 to {MAX_METADATA_KEY_LENGTH} characters")
        if len(item) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(f"values are at most {MAX_METADATA_VALUE_LENGTH} characters")
    return value


Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]
"""Free key-value pairs for the caller's own use."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderData:
    """What is known about an order, apart from its identity, status and bookkeeping."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    side: Side
    provider: Provider | None = None  # None: an order of rampwire's own user
    provider_order_id: str | None = None
    fiat: Money | None = None
    crypto: Crypto | None = None
    wallet_address: str | None = None
    wallet_tag: str | None = None  # memo or destination tag
    exchange_rate: Amount | None = None
    fees: tuple[Fee, ...] = ()
    payment: Payment | None = None
    execution: ExecutionDetails | None = None
    execution_steps: tuple[ExecutionStep, ...] = ()
    receipt: Receipt | None = None
    settlement: Settlement | None = None
    via: Via | None = None
    transaction_hash: str | None = None
    transaction_link: str | None = None
    failure: Failure | None = None
    amount_mismatch: AmountMismatch | None = None
    references: References = field(default_factory=References)
    note: str | None = None
    expires_at: Timestamp | None = None
    metadata: Metadata = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.provider is None) != (self.provider_order_id is None):
            raise ValueError("provider and provider_order_id go together")


IDENTITY_FIELDS = frozenset({"side", "provider", "provider_order_id"})
"""Fields fixed at creation: a change may not alter them."""

DATA_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OrderData))
"""Every field of :class:`OrderData`, in order."""

PATCHABLE_FIELDS: tuple[str, ...] = tuple(
    name for name in DATA_FIELDS if name not in IDENTITY_FIELDS
)
"""Fields a change may set; the lifecycle merges them field by field."""


def given_fields(data: OrderData) -> list[str]:
    """The patchable fields of ``data`` that hold something: a new order stamps them with its
    creation time. (An empty tuple or dict is falsy; a record never is, so no ``==`` against
    each record's fields.)"""
    found = []
    for name in PATCHABLE_FIELDS:
        value = getattr(data, name)
        if value is not None and (value or not isinstance(value, tuple | dict)):
            found.append(name)
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class Order(OrderData):
    """An order with its identity, status and bookkeeping."""

    id: str
    status: OrderStatus
    version: int  # +1 on every change
    created_at: Timestamp
    updated_at: Timestamp
    partner_id: str | None = None  # the partner that owns it, fixed at creation; None: the operator

    def evolve(self, **changes: Any) -> Order:
        """A copy with ``changes``, as ``dataclasses.replace`` makes it (an unknown field is a
        TypeError, ``__post_init__``'s checks run) for a third of its cost: the fold makes one
        per change, and ``replace`` builds keyword arguments for ``__init__`` field by field."""
        new = _copy(self)
        for name, value in changes.items():
            put = _SETTERS.get(name)
            if put is None:
                unknown = sorted(changes.keys() - _ORDER_FIELD_SET)
                raise TypeError(f"Order has no field {unknown[0]!r}")
            put(new, value)
        new.__post_init__()  # every time: a check added there later is never skipped
        return new

    def data(self) -> dict[str, Any]:
        """The patchable fields, by name."""
        return {name: getattr(self, name) for name in PATCHABLE_FIELDS}


_ORDER_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Order))
_ORDER_FIELD_SET = frozenset(_ORDER_FIELDS)
# Each field's slot, set as a frozen dataclass's __init__ sets it (past the frozen __setattr__),
# without object.__setattr__'s lookup of the name on the type: evolve's changes.
_SETTERS: dict[str, Callable[[Order, Any], None]] = {
    name: getattr(Order, name).__set__ for name in _ORDER_FIELDS
}
# A copy of an order, field by field through the slots.
_copy: Callable[[Order], Order] = slot_function(
    Order, ["order"], [f"order.{name}" for name in _ORDER_FIELDS]
)
# A new order of an OrderData and the order's own fields, through the slots, with
# __post_init__'s checks: the keyword constructor parses 29 keyword arguments and sets each
# field with object.__setattr__.
_OWN_FIELDS = _ORDER_FIELDS[len(DATA_FIELDS) :]
_create: Callable[..., Order] = slot_function(
    Order,
    ["data", *_OWN_FIELDS],
    [name if name in _OWN_FIELDS else f"data.{name}" for name in _ORDER_FIELDS],
    post_init=True,
)


def _of_fields_maker() -> Callable[..., Order]:
    """What makes a new order of a change's fields (a mapping: names that are not patchable
    are ignored, each missing one takes its default) and the order's identity and own fields,
    through the slots, with __post_init__'s checks."""
    given = {"side", "provider", "provider_order_id", *_OWN_FIELDS}
    values: list[str] = []
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(Order):
        name = f.name
        if name in given:
            values.append(name)
        elif f.default_factory is not dataclasses.MISSING:  # a new one per order, as __init__
            defaults[f"_new_{name}"] = f.default_factory
            values.append(f"fields[{name!r}] if {name!r} in fields else _new_{name}()")
        else:
            defaults[f"_default_{name}"] = f.default
            values.append(f"fields.get({name!r}, _default_{name})")
    params = ["fields", "side", "provider", "provider_order_id", *_OWN_FIELDS]
    return slot_function(Order, params, values, names=defaults, post_init=True)


_of_fields = _of_fields_maker()


def order_of_fields(
    fields: Mapping[str, Any],
    *,
    side: Side,
    provider: Provider | None,
    provider_order_id: str | None,
    id: str,
    status: OrderStatus,
    version: int,
    created_at: datetime,
    updated_at: datetime,
    partner_id: str | None,
) -> Order:
    """``Order(**{name: value for name, value in fields.items() if name in
    PATCHABLE_FIELDS}, side=..., ...)``, each value the same object, for a third of the keyword
    constructor's cost: a provider's order seen for the first time, of its change's fields."""
    return _of_fields(
        fields,
        side,
        provider,
        provider_order_id,
        id,
        status,
        version,
        created_at,
        updated_at,
        partner_id,
    )


_STEP_FIELDS = ("status", "version", "updated_at")
_stepped: Callable[[Order, OrderStatus, int, datetime], Order] = slot_function(
    Order,
    ["order", *_STEP_FIELDS],
    [name if name in _STEP_FIELDS else f"order.{name}" for name in _ORDER_FIELDS],
    post_init=True,
)


def stepped(order: Order, status: OrderStatus, version: int, updated_at: datetime) -> Order:
    """``order.evolve(status=status, version=version, updated_at=updated_at)`` in one pass
    through the slots: a change of status alone (most changes) makes one."""
    return _stepped(order, status, version, updated_at)


def new_order(
    data: OrderData,
    *,
    id: str,
    status: OrderStatus,
    version: int,
    created_at: datetime,
    updated_at: datetime,
    partner_id: str | None,
) -> Order:
    """``Order(**{each data field of data}, id=..., ...)``, each field the same object, with
    ``__post_init__``'s checks, for a third of the keyword constructor's cost (a create makes
    one)."""
    return _create(data, id, status, version, created_at, updated_at, partner_id)
