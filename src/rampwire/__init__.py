"""rampwire: order lifecycle and webhooks for crypto on/off-ramps."""

from importlib.metadata import version as _version

from .domain.events import Event, Source
from .domain.lifecycle import Change, Outcome, merge
from .domain.orders import Order, OrderData, OrderStatus, Provider, Side
from .errors import ClientError, RampwireError
from .settings import Settings

__version__ = _version("rampwire")

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
