"""Scenario files: a team's hard cases, kept in its repository and replayed as they are.

A scenario is TOML (``docs/simulate.md``)::

    provider = "transak"
    seed = 7                          # optional; so are speed and faults
    [faults]                          # rates for every order without its own
    duplicate = 0.2

    [[orders]]
    id = "hard-case-1"                # the provider's order id
    side = "sell"
    steps = ["ORDER_CREATED", "ORDER_FAILED/FAILED", "ORDER_REFUNDED/REFUNDED"]
    fiat_amount = "250.00"
    faults = { stale = 1.0, duplicate = 1.0 }

An order names either ``path`` (one of :data:`~rampwire.simulate.paths.PATHS`) or ``steps``:
canonical statuses or the provider's own names, as ``rampwire trigger`` takes them. Every
mistake is a :class:`ScenarioError` that says where it is.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..dialects import get_dialect
from ..dialects.base import Dialect
from ..dialects.errors import DialectError
from ..dialects.trigger import resolve_status
from ..domain.orders import Side
from .faults import Fault, parse_faults
from .paths import PACING, PATHS, Lifecycle, Step, steps
from .plan import OrderSpec

ORDER_KEYS = frozenset({"id", "side", "path", "steps", "fiat_amount", "crypto_amount", "faults"})
TOP_KEYS = frozenset({"provider", "seed", "speed", "faults", "orders"})


class ScenarioError(ValueError):
    """The scenario file cannot be played as written."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    provider: str
    orders: tuple[OrderSpec, ...]
    seed: int | None = None
    speed: float = math.inf
    faults: Mapping[Fault, float] | None = None


def load_scenario(path: Path) -> Scenario:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not TOML: {exc}") from exc
    return read_scenario(document, where=str(path))


def read_scenario(document: Mapping[str, Any], *, where: str = "scenario") -> Scenario:
    unknown = set(document) - TOP_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(TOP_KEYS)}")
    provider = document.get("provider")
    if not isinstance(provider, str):
        raise ScenarioError(f"{where}: provider is required (revolut, saber, fireblocks, ...)")
    try:
        dialect = get_dialect(provider)
    except DialectError as exc:
        raise ScenarioError(f"{where}: {exc.message}") from exc
    seed = document.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ScenarioError(f"{where}: seed must be an integer")
    speed = document.get("speed", math.inf)
    if not isinstance(speed, int | float) or isinstance(speed, bool) or speed <= 0:
        raise ScenarioError(f"{where}: speed must be a number above 0")
    orders = document.get("orders")
    if not isinstance(orders, list) or not orders:
        raise ScenarioError(f"{where}: at least one [[orders]] table is required")
    specs = tuple(
        _order(dialect, item, where=f"{where}: orders[{index}]")
        for index, item in enumerate(orders)
    )
    faults = document.get("faults")
    return Scenario(
        provider=dialect.name.value,
        orders=specs,
        seed=seed,
        speed=float(speed),
        faults=None if faults is None else _faults(faults, where=f"{where}: faults"),
    )


def _faults(value: object, *, where: str) -> dict[Fault, float]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} must be a table of fault = rate")
    try:
        return parse_faults(tuple(f"{k}={v}" for k, v in value.items()), default_rate=1.0)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def _amount(item: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ScenarioError(f"{where}: {key} must be a decimal amount, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ScenarioError(f"{where}: {key} must be a positive amount")
    return amount


def _order(dialect: Dialect[Any], item: object, *, where: str) -> OrderSpec:
    if not isinstance(item, dict):
        raise ScenarioError(f"{where} must be a table")
    unknown = set(item) - ORDER_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(ORDER_KEYS)}")
    try:
        side = Side(item.get("side", "buy"))
    except ValueError:
        raise ScenarioError(f"{where}: side is buy or sell") from None
    if side not in dialect.sides:
        raise ScenarioError(f"{where}: {dialect.name.value} has no {side.value} orders")
    if ("path" in item) == ("steps" in item):
        raise ScenarioError(f"{where}: give either path or steps")
    if "path" in item:
        if item["path"] not in PATHS:
            raise ScenarioError(
                f"{where}: no path is called {item['path']!r}; known: {list(PATHS)}"
            )
        lifecycle = Lifecycle(
            path=item["path"], side=side, steps=steps(dialect, item["path"], side)
        )
    else:
        names = item["steps"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ScenarioError(f"{where}: steps must be a list of status or event names")
        played: list[Step] = []
        for name in names:
            try:
                status = resolve_status(dialect, name, side)
            except DialectError as exc:
                raise ScenarioError(f"{where}: {exc.message}") from exc
            event = dialect.to_provider(status, side)
            played.append(Step(status=status, event=event, pace=PACING[status] if played else 0.0))
        lifecycle = Lifecycle(path="scenario", side=side, steps=tuple(played))
    order_id = item.get("id")
    if order_id is not None and (not isinstance(order_id, str) or not order_id.strip()):
        raise ScenarioError(f"{where}: id must be a non-empty string")
    faults = item.get("faults")
    return OrderSpec(
        lifecycle=lifecycle,
        order_id=order_id,
        fiat_amount=_amount(item, "fiat_amount", where),
        crypto_amount=_amount(item, "crypto_amount", where),
        faults=None if faults is None else _faults(faults, where=f"{where}: faults"),
    )
