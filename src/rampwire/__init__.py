"""rampwire: order lifecycle and webhooks for crypto on/off-ramps.

The public names load when first used (PEP 562): ``import rampwire`` alone, as every
``rampwire.*`` import does first, stays cheap for the client and the CLI over the API."""

import typing as _typing
from importlib import import_module as _import_module

if _typing.TYPE_CHECKING:
    from .domain.events import Event, Source
    from .domain.lifecycle import Change, Outcome, merge
    from .domain.orders import Order, OrderData, OrderStatus, Provider, Side
    from .errors import ClientError, RampwireError
    from .settings import Settings

__all__ = [
    "Change",
    "ClientError",
    "Event",
    "Order",
    "OrderData",
    "OrderStatus",
    "Outcome",
    "Provider",
    "RampwireError",
    "Settings",
    "Side",
    "Source",
    "__version__",
    "merge",
]

_WHERE = {
    "Change": ".domain.lifecycle",
    "ClientError": ".errors",
    "Event": ".domain.events",
    "Order": ".domain.orders",
    "OrderData": ".domain.orders",
    "OrderStatus": ".domain.orders",
    "Outcome": ".domain.lifecycle",
    "Provider": ".domain.orders",
    "RampwireError": ".errors",
    "Settings": ".settings",
    "Side": ".domain.orders",
    "Source": ".domain.events",
    "merge": ".domain.lifecycle",
}


def __getattr__(name: str) -> _typing.Any:
    if name == "__version__":
        from importlib.metadata import version

        value: _typing.Any = version("rampwire")
    elif name in _WHERE:
        value = getattr(_import_module(_WHERE[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later reads are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
