"""Domain operations on storage: each method is one transaction, and the only SQL in rampwire."""

from ..domain.fold import ChangeResult
from .keys import KeyRepository
from .orders import (
    CreateResult,
    IdempotencyClaim,
    OrderFilter,
    OrderRepository,
)

__all__ = [
    "ChangeResult",
    "CreateResult",
    "IdempotencyClaim",
    "KeyRepository",
    "OrderFilter",
    "OrderRepository",
]
