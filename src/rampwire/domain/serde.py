"""JSON in and out of domain records, through pydantic's validators and serialisers.

Domain records stay plain frozen dataclasses; this module is the one place that turns them into
JSON-ready values and back. Decimals become strings and datetimes ISO 8601 in UTC.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar, get_type_hints

import orjson
from pydantic import TypeAdapter, ValidationError

from ..types import JSONObject, format_decimal
from .orders import PATCHABLE_FIELDS, Order, OrderData

T = TypeVar("T")


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}  # built once per record type


def adapter(cls: type[T]) -> TypeAdapter[T]:
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def dump(record: Any) -> JSONObject:
    """A dataclass record as a JSON-ready dict."""
    # the adapters' core serialiser and validator, called directly: TypeAdapter's own methods
    # add ~0.5 us of Python per call, and ingest makes a dozen calls per request
    result: JSONObject = adapter(type(record)).serializer.to_python(record, mode="json")
    return result


def load(cls: type[T], data: Any) -> T:
    """Validate ``data`` (JSON-ready values) into a ``cls`` record; raises ValidationError."""
    return adapter(cls).validator.validate_python(data)  # type: ignore[no-any-return]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dump(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


_UTC_Z = orjson.OPT_UTC_Z


def to_json(value: Any) -> bytes:
    """Compact JSON bytes; datetimes as ISO 8601 with ``Z``, Decimals as strings."""
    return orjson.dumps(value, default=_default, option=_UTC_Z)


def from_json(raw: bytes | str) -> Any:
    return orjson.loads(raw)


# The JSON of the orders serialised last, by identity (each entry holds its order, so the id
# is not reused while it is kept): an order's events and its row are one serialisation.
_ORDER_JSON: dict[int, tuple[Order, bytes]] = {}
ORDER_JSON_KEPT = 512  # above the orders a group commit holds between its events and its rows


def order_to_json(order: Order) -> bytes:
    """The order as compact JSON, byte for byte ``to_json(dump(order))``; made once per order
    record (records are frozen, and a change makes a new one)."""
    found = _ORDER_JSON.get(id(order))
    if found is not None and found[0] is order:
        return found[1]
    raw = adapter(Order).serializer.to_json(order)
    _keep(order, raw)
    return raw


def _keep(order: Order, raw: bytes) -> None:
    if len(_ORDER_JSON) >= ORDER_JSON_KEPT:
        _ORDER_JSON.pop(next(iter(_ORDER_JSON), 0), None)  # the oldest; no KeyError if raced
    _ORDER_JSON[id(order)] = (order, raw)


# An order's JSON is its data fields, then its own (id, status, version, times, partner): a
# change of status alone changes only the last part, which orjson writes as pydantic does.


def _own_json(order: Order) -> bytes:
    """The end of :func:`order_to_json`: ``,"id":...,"partner_id":...}``."""
    own = orjson.dumps(
        {
            "id": order.id,
            "status": order.status,
            "version": order.version,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
            "partner_id": order.partner_id,
        },
        option=_UTC_Z,
    )
    return b"," + own[1:]


def _same_data(order: Order, new: Order) -> bool:
    """Whether each data field (:data:`~rampwire.domain.orders.DATA_FIELDS`; a test holds the
    list to it) of the two is the same object: attribute by attribute in straight-line code,
    a sixth of the cost of a getter of all the fields run on each and compared pair by pair."""
    return (
        order.side is new.side
        and order.provider is new.provider
        and order.provider_order_id is new.provider_order_id
        and order.fiat is new.fiat
        and order.crypto is new.crypto
        and order.wallet_address is new.wallet_address
        and order.wallet_tag is new.wallet_tag
        and order.exchange_rate is new.exchange_rate
        and order.fees is new.fees
        and order.payment is new.payment
        and order.execution is new.execution
        and order.execution_steps is new.execution_steps
        and order.receipt is new.receipt
        and order.settlement is new.settlement
        and order.via is new.via
        and order.transaction_hash is new.transaction_hash
        and order.transaction_link is new.transaction_link
        and order.failure is new.failure
        and order.amount_mismatch is new.amount_mismatch
        and order.references is new.references
        and order.note is new.note
        and order.expires_at is new.expires_at
        and order.metadata is new.metadata
    )


def evolved(order: Order, new: Order) -> None:
    """Let :func:`order_to_json` make ``new``'s JSON from ``order``'s, serialised already, when
    every data field of the two is the same object (a change of status: the fold makes one
    per change): the same bytes with the last part written anew, for a tenth of the cost."""
    found = _ORDER_JSON.get(id(order))
    if found is None or found[0] is not order or new is order or not _same_data(order, new):
        return
    raw, own = found[1], _own_json(order)
    if raw.endswith(own):  # always, but a difference must cost a serialisation, never bytes
        _keep(new, raw[: len(raw) - len(own)] + _own_json(new))


def order_fragment(order: Order) -> orjson.Fragment:
    """The order's JSON (:func:`order_to_json`), to place as it is in a value for
    :func:`to_json`."""
    found = _ORDER_JSON.get(id(order))  # order_to_json's lookup: each event finds it made
    if found is not None and found[0] is order:
        return orjson.Fragment(found[1])
    return orjson.Fragment(order_to_json(order))


def order_from_json(raw: bytes | str) -> Order:
    return adapter(Order).validator.validate_json(raw)  # type: ignore[no-any-return]


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(get_type_hints(OrderData, include_extras=True)[name])


# Each patchable field's validate_python by name, kept at the field's first use (when its
# adapter is built: not all twenty up front, which a CLI command would pay for nothing), or all
# at a server's start (:func:`prepare_patches`): one lookup per field of a patch, not four.
_FIELD_VALIDATORS: dict[str, Callable[[Any], Any]] = {}


def _built_validator(name: str) -> Callable[[Any], Any]:
    validate = _FIELD_VALIDATORS[name] = _field_adapter(name).validator.validate_python
    return validate


def prepare_patches() -> None:
    """Build every patchable field's validator now, for a process about to take requests:
    built at a field's first use, each costs the request that meets it several milliseconds
    (the twenty took 56-125 ms together here), which a new server's first requests would pay."""
    for name in PATCHABLE_FIELDS:
        if name not in _FIELD_VALIDATORS:
            _built_validator(name)


def load_patch(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial order, field by field, into domain values.

    Raises :class:`PatchError` listing every bad field; unknown and fixed fields are errors too.
    """
    errors: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        validate = _FIELD_VALIDATORS.get(name)
        if validate is None:
            if name not in PATCHABLE_FIELDS:
                reason = (
                    "is fixed when the order is created"
                    if name in {f.name for f in dataclasses.fields(OrderData)}
                    else "is not an order field"
                )
                errors.append((name, reason))
                continue
            validate = _built_validator(name)
        try:
            values[name] = validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in (name, *err["loc"]))
                errors.append((loc, error_reason(err)))
    if errors:
        raise PatchError(errors)
    return values


# pydantic's error types whose message names a Python type ("an instance of OrderCreate")
_REASONS = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "unexpected_keyword_argument": "is not a known field",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dataclass_type": "must be a JSON object",
    "dataclass_exact_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "is_instance_of": "must be a JSON object",
    "list_type": "must be a JSON array",
    "tuple_type": "must be a JSON array",
    "set_type": "must be a JSON array",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}
_SHOULD = re.compile(r"^(?:Input|Value|String|List|Dictionary|Decimal input|Tuple|Set) should ")


def error_reason(error: Mapping[str, Any]) -> str:
    """One pydantic error in the caller's terms: no Python type names, no "Value error, "."""
    known = _REASONS.get(str(error.get("type")))
    if known is not None:
        return known
    message = str(error.get("msg") or "is invalid")
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return _SHOULD.sub("must ", message)


class PatchError(ValueError):
    """Some fields of a partial order are invalid."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors
