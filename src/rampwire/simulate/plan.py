"""A run's plan: every order, every step and every fault, drawn from one seeded generator.

The plan decides everything random before anything is sent (ids, amounts, hashes, which step
carries which fault, reordering, delays, retry jitter), so the same seed, the same options and
the same clock send the same bytes in the same order. Requests are encoded when sent, with the
clock's time, since providers sign the time of sending.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from ..dialects.base import Dialect, OutboundEvent, WireRequest
from ..dialects.errors import DialectError
from ..dialects.samples import sample_order
from ..domain.orders import Order, OrderStatus, Side
from ..ids import id_from
from .faults import EXPECT, SEQUENCE, Encode, Expect, Fault, applies
from .paths import Lifecycle, lifecycles

DEFAULT_REORDER_WINDOW: Final = 3  # steps
DELAY_RANGE: Final = (0.5, 3.0)  # a delayed step waits this many times its usual pace, more


@dataclass(frozen=True, kw_only=True, slots=True)
class Shot:
    """One request to send: an authentic step, a copy of one, or a forged variant."""

    seq: int  # its place in the plan
    order: int  # the order's index in the run
    step: int  # the lifecycle step it belongs to
    status: OrderStatus
    fault: Fault
    wait: float  # seconds (uncompressed) after the order's previous request
    encode: Encode
    earlier: Encode | None = None  # the step before, for a replay
    copy_of: int | None = None  # a duplicate: the seq whose bytes it sends again
    drop_first: bool = False  # the provider loses the first answer and retries

    @property
    def expect(self) -> Expect:
        return EXPECT[self.fault]

    @property
    def authentic(self) -> bool:
        return self.expect is Expect.ACCEPT


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderScript:
    index: int
    lifecycle: Lifecycle
    provider_order_id: str
    final: OrderStatus  # what the receiver should show once every step is in
    shots: tuple[Shot, ...]
    retry_seed: int  # the retry jitter's own generator, so answers do not shift later draws


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderSpec:
    """One order fixed by a scenario file: its steps, and what it keeps of its own."""

    lifecycle: Lifecycle
    order_id: str | None = None  # the provider's order id
    fiat_amount: Decimal | None = None
    crypto_amount: Decimal | None = None
    faults: Mapping[Fault, float] | None = None  # None: the run's


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    dialect: Dialect[Any]
    seed: int
    orders: tuple[OrderScript, ...]
    faults: Mapping[Fault, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(o.shots) for o in self.orders)


def build_plan(
    dialect: Dialect[Any],
    credentials: Any,
    *,
    orders: int,
    seed: int,
    start: datetime,
    paths: tuple[str, ...] = (),
    sides: tuple[Side, ...] = (),
    faults: Mapping[Fault, float] | None = None,
    reorder_window: int = DEFAULT_REORDER_WINDOW,
    specs: tuple[OrderSpec, ...] = (),
    speed: float = math.inf,
) -> Plan:
    """``orders`` orders taking turns over ``dialect``'s lifecycles (or those in ``paths``); or,
    given ``specs``, exactly those orders."""
    if not specs:
        chosen = lifecycles(dialect, paths, sides)
        if not chosen:
            asked = ", ".join([*paths, *(s.value for s in sides)])
            raise ValueError(f"{dialect.name.value} plays none of: {asked}")
        specs = tuple(OrderSpec(lifecycle=chosen[i % len(chosen)]) for i in range(orders))
    rng = random.Random(seed)
    run_faults = _applicable(dialect, faults or {})
    scripts: list[OrderScript] = []
    finals: dict[Lifecycle, OrderStatus] = {}  # one decode per lifecycle, not per order
    seq = 0
    for index, spec in enumerate(specs):
        lifecycle = spec.lifecycle
        wanted = run_faults if spec.faults is None else _applicable(dialect, spec.faults)
        encoders = _encoders(dialect, spec, rng, start, speed)
        shots: list[Shot] = []
        order_steps = list(range(len(encoders)))
        moved: set[int] = set()
        if rng.random() < wanted.get(Fault.REORDER, 0.0):
            for low in range(0, len(order_steps), max(1, reorder_window)):
                window = order_steps[low : low + reorder_window]
                rng.shuffle(window)
                order_steps[low : low + reorder_window] = window
            moved = {i for position, i in enumerate(order_steps) if position != i}
        for step in order_steps:
            status, pace = lifecycle.steps[step].status, lifecycle.steps[step].pace
            encode = encoders[step]
            earlier = encoders[step - 1] if step else None
            for fault in sorted(wanted, key=list(Fault).index):
                if fault in SEQUENCE or rng.random() >= wanted[fault]:
                    continue
                shots.append(
                    Shot(
                        seq=seq, order=index, step=step, status=status, fault=fault,
                        wait=pace, encode=encode, earlier=earlier,
                    )
                )  # fmt: skip
                seq, pace = seq + 1, 0.0
            label = Fault.REORDER if step in moved else Fault.NONE
            if rng.random() < wanted.get(Fault.DELAY, 0.0):
                pace += (pace or 30.0) * rng.uniform(*DELAY_RANGE)
                label = Fault.DELAY
            dropped = rng.random() < wanted.get(Fault.DROP, 0.0)
            genuine = seq
            shots.append(
                Shot(
                    seq=seq, order=index, step=step, status=status,
                    fault=Fault.DROP if dropped else label, wait=pace, encode=encode,
                    drop_first=dropped,
                )
            )  # fmt: skip
            seq += 1
            if rng.random() < wanted.get(Fault.DUPLICATE, 0.0):
                shots.append(
                    Shot(
                        seq=seq, order=index, step=step, status=status, fault=Fault.DUPLICATE,
                        wait=0.0, encode=encode, copy_of=genuine,
                    )
                )  # fmt: skip
                seq += 1
        scripts.append(
            OrderScript(
                index=index,
                lifecycle=lifecycle,
                provider_order_id=encoders.provider_order_id,
                final=finals.get(lifecycle)
                or finals.setdefault(
                    lifecycle, _final(dialect, credentials, lifecycle, encoders[-1], start)
                ),
                shots=tuple(shots),
                retry_seed=rng.getrandbits(64),
            )
        )
    every = dict(run_faults)
    for spec in specs:
        every.update(_applicable(dialect, spec.faults or {}))
    return Plan(dialect=dialect, seed=seed, orders=tuple(scripts), faults=every)


def _applicable(dialect: Dialect[Any], faults: Mapping[Fault, float]) -> dict[Fault, float]:
    return {f: r for f, r in faults.items() if f in SEQUENCE or applies(f, dialect.name)}


class _Encoders(list[Encode]):
    provider_order_id: str = ""


def _encoders(
    dialect: Dialect[Any], spec: OrderSpec, rng: random.Random, start: datetime, speed: float
) -> _Encoders:
    """One encoder per step of one order: the same order (ids, amounts) at each step's status,
    updated when the step happens (``start`` plus the compressed pacing): a retry re-signs the
    same order, as a provider does."""
    lifecycle = spec.lifecycle
    order_seed = rng.getrandbits(64)
    last = lifecycle.steps[-1].status
    base = sample_order(
        dialect.name, last, lifecycle.side, now=start, rng=random.Random(order_seed)
    )
    kept: dict[str, Any] = {}
    if spec.order_id is not None:
        kept["provider_order_id" if dialect.provider else "id"] = spec.order_id
    if spec.fiat_amount is not None and base.fiat is not None:
        kept["fiat"] = replace(base.fiat, amount=spec.fiat_amount)
    if spec.crypto_amount is not None and base.crypto is not None:
        kept["crypto"] = replace(base.crypto, amount=spec.crypto_amount)
    base = base.evolve(**kept)
    found = _Encoders()
    found.provider_order_id = base.provider_order_id or base.id
    ms = int(start.timestamp() * 1000)
    offset = 0.0
    for step in lifecycle.steps:
        offset += 0.0 if math.isinf(speed) else step.pace / speed
        at_status = sample_order(
            dialect.name, step.status, lifecycle.side, now=start, rng=random.Random(order_seed)
        ).evolve(
            id=base.id,
            provider_order_id=base.provider_order_id,
            references=base.references,
            created_at=base.created_at,
            updated_at=start + timedelta(seconds=offset),
            **{k: v for k, v in kept.items() if k in ("fiat", "crypto")},
        )
        event_id = id_from("evt", ms, rng.getrandbits(80))
        found.append(_encoder(dialect, at_status, event_id))
    return found


def _encoder(dialect: Dialect[Any], order: Order, event_id: str) -> Encode:
    def encode(now: datetime, credentials: Any) -> WireRequest:
        event = OutboundEvent(id=event_id, type=f"order.{order.status.value}", created_at=now)
        return dialect.encode(event, order, credentials, now=now)

    return encode


def _final(
    dialect: Dialect[Any],
    credentials: Any,
    lifecycle: Lifecycle,
    last: Callable[[datetime, Any], WireRequest],
    now: datetime,
) -> OrderStatus:
    """The status the last step reads back as, in the dialect's own decoder (Koywe's refund is
    ``payment_rejected``, read as ``failed``)."""
    request = last(now, credentials)
    try:
        decoded = dialect.decode(request.headers, request.body, credentials, now=now)
    except DialectError:
        decoded = []
    statuses = [d.status for d in decoded if d.status is not None]
    return statuses[-1] if statuses else lifecycle.steps[-1].status
