"""The receiver kit: for the people who receive rampwire's webhooks.

``Verifier`` checks a Standard Webhooks request (``v1`` HMAC secrets, ``v1a`` ed25519 public
keys); ``ProviderVerifier`` checks a delivery in a provider's format; both raise only
``WebhookVerificationError``. ``OrderState`` rebuilds an order from its events in any arrival
order. Guide: ``docs/receiving.md``.
"""

from __future__ import annotations

from .errors import UnusableEvent, WebhookVerificationError
from .order_state import OrderState, fold
from .providers import ProviderVerifier
from .signatures import DEFAULT_TOLERANCE, Verifier, verify

__all__ = [
    "DEFAULT_TOLERANCE",
    "OrderState",
    "ProviderVerifier",
    "UnusableEvent",
    "Verifier",
    "WebhookVerificationError",
    "fold",
    "verify",
]
