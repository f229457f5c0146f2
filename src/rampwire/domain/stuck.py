"""Stuck orders: how long an order may stay in each non-terminal status (its SLA).

An order still in a status after that status's SLA gets one ``order.stuck`` event, emitted by the
sweeper (:mod:`rampwire.sweeper`); it gets another only if it leaves the status and comes back.
The time in a status counts from when the order entered it, by the provider's (or caller's)
event time. SLAs are set with ``RAMPWIRE_STUCK_AFTER``, e.g. ``processing=2h,on_hold=3d``;
``<status>=off`` stops watching a status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from .orders import OrderStatus

S = OrderStatus

DEFAULT_SLAS: Mapping[OrderStatus, timedelta] = {
    S.CREATED: timedelta(hours=1),
    S.PENDING_USER_ACTION: timedelta(hours=24),
    S.AWAITING_PAYMENT: timedelta(hours=2),
    S.PAYMENT_SUBMITTED: timedelta(hours=2),
    S.PAYMENT_VERIFYING: timedelta(hours=2),
    S.AMOUNT_MISMATCH: timedelta(hours=24),
    S.PAYMENT_RECEIVED: timedelta(hours=1),
    S.PROCESSING: timedelta(hours=2),
    S.ON_HOLD: timedelta(hours=24),
    S.DELIVERY_SENT: timedelta(hours=2),
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d{1,7})([smhd])$")


class SlaError(ValueError):
    """A stuck-order SLA setting cannot be read."""


def parse_slas(
    text: str, base: Mapping[OrderStatus, timedelta] = DEFAULT_SLAS
) -> dict[OrderStatus, timedelta]:
    """``base`` with the overrides in ``text`` (``status=30m,status=off``) applied."""
    slas = dict(base)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, value = item.partition("=")
        try:
            status = OrderStatus(name.strip())
        except ValueError as exc:
            raise SlaError(f"{name.strip()!r} is not a status") from exc
        if not equals:
            raise SlaError(f"{item!r}: write <status>=<duration>, like processing=2h")
        if status.is_terminal:
            raise SlaError(f"{status.value} is final: an order cannot be stuck in it")
        value = value.strip().lower()
        if value == "off":
            slas.pop(status, None)
            continue
        match = _DURATION.match(value)
        if match is None or int(match.group(1)) == 0:
            raise SlaError(f"{value!r} is not a duration like 90s, 30m, 2h or 3d")
        slas[status] = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    return slas
