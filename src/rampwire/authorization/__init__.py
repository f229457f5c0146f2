"""The pre-execution authorization callback (Koywe's "is this user allowed?").

Before a user buys, sells or reads an order's private details, rampwire POSTs who the user is and
what they are about to do to the partner's URL, and stops on a falsy answer::

    config = AuthorizationConfig(
        url="https://partner.example/authorize",
        auth=BearerAuth(token=Secret("...")),
    )
    async with AuthorizationClient(TargetPolicy()) as authorizer:
        decision = await authorizer.authorize(
            config, operation=Operation.BUY, subject=Subject(email="ana@example.com")
        )
    decision.raise_if_refused()  # UserNotAllowed, a 403 `user_not_allowed` problem

Modules: :mod:`.config` (settings, storage form), :mod:`.credentials` (the four auth methods),
:mod:`.signing` (the HMAC headers), :mod:`.request` (the body sent), :mod:`.answers` (reading the
reply), :mod:`.decision`, :mod:`.cache`, :mod:`.client`, :mod:`.errors`. See
``docs/authorization.md``.
"""

from .answers import MAX_ANSWER_BYTES, Answer, parse_answer
from .cache import DEFAULT_CACHE_SIZE, DecisionCache
from .client import AuthorizationClient
from .config import (
    DEFAULT_CACHE_TTL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    AuthorizationConfig,
    FailureMode,
    Operation,
    StoredConfig,
)
from .credentials import AuthKind, AuthMethod, BasicAuth, BearerAuth, HeaderAuth, HmacAuth
from .decision import Decision, FailureKind, Outcome
from .errors import InvalidAuthorizationConfig, InvalidSignature, UserNotAllowed
from .request import OrderSummary, Subject, encode_request
from .signing import SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, TIMESTAMP_HEADER, sign, verify

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_CACHE_TTL_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_ANSWER_BYTES",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE_SECONDS",
    "TIMESTAMP_HEADER",
    "Answer",
    "AuthKind",
    "AuthMethod",
    "AuthorizationClient",
    "AuthorizationConfig",
    "BasicAuth",
    "BearerAuth",
    "Decision",
    "DecisionCache",
    "FailureKind",
    "FailureMode",
    "HeaderAuth",
    "HmacAuth",
    "InvalidAuthorizationConfig",
    "InvalidSignature",
    "Operation",
    "OrderSummary",
    "Outcome",
    "StoredConfig",
    "Subject",
    "UserNotAllowed",
    "encode_request",
    "parse_answer",
    "sign",
    "verify",
]
