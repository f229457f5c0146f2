"""One simulation: plan a provider's lifecycles, play them against a receiver, grade it.

:func:`simulate` is what ``rampwire simulate`` and the pytest plugin call::

    dialect = get_dialect("revolut")
    result = await simulate(
        Options(dialect="revolut", secrets=("wsk_...",), orders=20, faults={Fault.STALE: 0.5}),
        send=http_sender(session, "http://127.0.0.1:8000/ingest/src_...", timeout=10),
    )
    assert result.grade.count(Severity.SECURITY) == 0
"""

from __future__ import annotations

import math
import random
import secrets as random_source
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..dialects import FireblocksCredentials, get_dialect
from ..dialects.base import DialectName
from ..dialects.jose import generate_signing_key
from ..domain.orders import Side
from ..types import utcnow
from .faults import Fault, Forger, wrong_secret
from .grade import Grade, grade
from .plan import DEFAULT_REORDER_WINDOW, OrderSpec, Plan, build_plan
from .runner import DEFAULT_CONCURRENCY, Clock, Outcome, Send, play

WRONG_KEY_BITS = 2048  # the stranger's RSA key for Fireblocks' wrong-key requests


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    dialect: str
    secrets: tuple[str, ...]  # as `rampwire trigger --secret`; Fireblocks: a PEM private key
    orders: int = 1
    paths: tuple[str, ...] = ()
    sides: tuple[Side, ...] = ()  # empty: every side the provider has
    faults: Mapping[Fault, float] = field(default_factory=dict)
    seed: int | None = None  # None: a fresh seed, reported in the grade
    speed: float = math.inf
    start: datetime | None = None  # a fixed clock; None: the real one
    concurrency: int = DEFAULT_CONCURRENCY
    reorder_window: int = DEFAULT_REORDER_WINDOW
    specs: tuple[OrderSpec, ...] = ()  # a scenario's orders, instead of ``orders`` drawn ones

    def __post_init__(self) -> None:
        if self.orders < 1:
            raise ValueError("orders must be at least 1")
        if not self.secrets:
            raise ValueError(f"{self.dialect} needs a secret (or a key for fireblocks)")


@dataclass(frozen=True, kw_only=True, slots=True)
class Result:
    plan: Plan
    outcomes: tuple[Outcome, ...]
    grade: Grade


def prepare(options: Options) -> tuple[Plan, Forger]:
    """The plan and the forger of a run (nothing sent)."""
    dialect = get_dialect(options.dialect)
    credentials = dialect.credentials_from_secrets(list(options.secrets))
    seed = options.seed if options.seed is not None else random_source.randbits(63)
    start = options.start or utcnow()
    plan = build_plan(
        dialect,
        credentials,
        orders=options.orders,
        seed=seed,
        start=start,
        paths=options.paths,
        sides=options.sides,
        faults=options.faults,
        reorder_window=options.reorder_window,
        specs=options.specs,
        speed=options.speed,
    )
    strangers = random.Random(seed ^ 0x5EED)
    wrong: Any
    if dialect.name is DialectName.FIREBLOCKS:
        needed = {Fault.WRONG_KEY} & set(plan.faults)
        # RSA keys cannot be drawn from a seed: the stranger's key (and only it) differs per run
        wrong = (
            FireblocksCredentials(signing_key=generate_signing_key(WRONG_KEY_BITS))
            if needed
            else None
        )
    else:
        wrong = dialect.credentials_from_secrets(
            [wrong_secret(s, strangers) for s in options.secrets]
        )
    forger = Forger(dialect=dialect.name, credentials=credentials, wrong_credentials=wrong)
    return plan, forger


async def simulate(
    options: Options,
    send: Send,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Result:
    plan, forger = prepare(options)
    return await run(plan, forger, options, send, on_outcome=on_outcome)


async def run(
    plan: Plan,
    forger: Forger,
    options: Options,
    send: Send,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Result:
    """Play a prepared plan (the CLI sizes its progress bar on the plan first)."""
    clock = Clock(speed=options.speed, start=options.start)
    outcomes = await play(
        plan, send, forger, clock=clock, concurrency=options.concurrency, on_outcome=on_outcome
    )
    return Result(plan=plan, outcomes=tuple(outcomes), grade=grade(plan, outcomes))
