"""The authorization callback's configuration: where to ask, how, and what a failure means.

:class:`AuthorizationConfig` is validated when it is built, so a config that exists can be used.
Secrets never leave it by accident: ``repr`` hides them, :meth:`~AuthorizationConfig.to_public_dict`
says only whether one is set, and :meth:`~AuthorizationConfig.to_storage` hands them over
separately, for the caller to encrypt at rest::

    stored = config.to_storage()
    save(stored.document, {name: encrypt(s.reveal()) for name, s in stored.secrets.items()})
    ...
    config = AuthorizationConfig.from_storage(document, {name: decrypt(v) for ...})
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

from ..domain.orders import Side
from ..settings import Secret
from ..types import JSONObject
from .credentials import AUTH_METHODS, AuthMethod, auth_from_document
from .errors import InvalidAuthorizationConfig

DEFAULT_TIMEOUT_SECONDS: Final = 3.0  # seconds for the whole call: connect, send, answer
MAX_TIMEOUT_SECONDS: Final = 30.0  # seconds: a user is waiting
DEFAULT_CACHE_TTL_SECONDS: Final = 30.0  # seconds a definite answer is reused; 0 disables
MAX_CACHE_TTL_SECONDS: Final = 3600.0  # seconds: beyond an hour the check means little
MAX_URL_LENGTH: Final = 2048  # characters
STORAGE_VERSION: Final = 1  # the shape of to_storage()'s document

_URL_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f]")  # whitespace and control characters


class Operation(StrEnum):
    """What the user is about to do."""

    BUY = "buy"  # create an on-ramp order: fiat in, crypto out
    SELL = "sell"  # create an off-ramp order: crypto in, fiat out
    READ = "read"  # read an order's private details

    @classmethod
    def for_side(cls, side: Side) -> Operation:
        """The operation that creates an order of this side."""
        return cls(side.value)


class FailureMode(StrEnum):
    """What a timeout, a connection error or a 5xx means."""

    CLOSED = "closed"  # refuse the user: the safe default
    OPEN = "open"  # let the user through: availability over control


ALL_OPERATIONS: Final = frozenset(Operation)


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredConfig:
    """A config split for storage: a JSON-ready document and the secrets, to encrypt apart."""

    document: JSONObject
    secrets: dict[str, Secret]


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthorizationConfig:
    """Where and how to ask a partner whether a user may go ahead.

    ``operations`` lists the operations that are checked; the others are allowed without a call.
    """

    url: str  # http:// or https://; credentials go in ``auth``, never in the URL
    auth: AuthMethod
    operations: frozenset[Operation] = ALL_OPERATIONS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    failure_mode: FailureMode = FailureMode.CLOSED
    cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS

    def __post_init__(self) -> None:
        _check_url(self.url)
        if not isinstance(self.auth, AUTH_METHODS):
            raise TypeError(
                "auth must be BearerAuth, BasicAuth, HeaderAuth or HmacAuth, "
                f"not {type(self.auth).__name__}"
            )
        set_ = object.__setattr__  # normalise in place: the record is frozen
        set_(self, "operations", _operations(self.operations))
        set_(
            self,
            "timeout_seconds",
            _seconds(self.timeout_seconds, "timeout_seconds", MAX_TIMEOUT_SECONDS, zero=False),
        )
        set_(
            self,
            "cache_ttl_seconds",
            _seconds(self.cache_ttl_seconds, "cache_ttl_seconds", MAX_CACHE_TTL_SECONDS, zero=True),
        )
        set_(self, "failure_mode", _failure_mode(self.failure_mode))

    def enabled_for(self, operation: Operation) -> bool:
        return operation in self.operations

    def replace(self, **changes: Any) -> AuthorizationConfig:
        return dataclasses.replace(self, **changes)

    def to_public_dict(self) -> JSONObject:
        """For API responses: every setting, and for each secret only whether it is set."""
        return {**self._settings(), "auth": self.auth.public()}

    def to_storage(self) -> StoredConfig:
        """The settings as a JSON-ready document, and the secrets apart from it."""
        document = {"version": STORAGE_VERSION, **self._settings(), "auth": self.auth.document()}
        return StoredConfig(document=document, secrets=self.auth.secrets())

    @classmethod
    def from_storage(
        cls, document: Mapping[str, Any], secrets: Mapping[str, Secret | str]
    ) -> AuthorizationConfig:
        """Rebuild a config from :meth:`to_storage`'s document and the (decrypted) secrets.

        Raises :class:`InvalidAuthorizationConfig`, never a ``KeyError`` or ``TypeError``, when
        the document is malformed. An operation missing from ``operations`` is enabled: a newer
        operation is checked rather than waved through.
        """
        if not isinstance(document, Mapping):
            _fail("document", "the stored document must be a JSON object")
        if document.get("version") != STORAGE_VERSION:
            _fail(
                "version",
                f"unknown stored format version {document.get('version')!r}; "
                f"this rampwire reads version {STORAGE_VERSION}",
            )
        known = {f.name for f in dataclasses.fields(cls)} | {"version"}
        unknown = sorted(str(key) for key in document if key not in known)
        if unknown:
            _fail("document", f"unknown fields in the stored config: {', '.join(unknown)}")
        auth = document.get("auth")
        if not isinstance(auth, Mapping):
            _fail("auth", "auth must be a JSON object with a method")
        url = document.get("url")
        if not isinstance(url, str):
            _fail("url", "url must be a string")
        return cls(
            url=url,
            auth=auth_from_document(auth, secrets),
            operations=_operations_from_document(document.get("operations", {})),
            timeout_seconds=document.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            failure_mode=document.get("failure_mode", FailureMode.CLOSED),
            cache_ttl_seconds=document.get("cache_ttl_seconds", DEFAULT_CACHE_TTL_SECONDS),
        )

    def _settings(self) -> JSONObject:
        return {
            "url": self.url,
            "operations": {op.value: op in self.operations for op in Operation},
            "timeout_seconds": self.timeout_seconds,
            "failure_mode": self.failure_mode.value,
            "cache_ttl_seconds": self.cache_ttl_seconds,
        }


def _check_url(url: object) -> None:
    if not isinstance(url, str) or not url:
        _fail("url", "url must be a non-empty string such as https://partner.example/authorize")
    if len(url) > MAX_URL_LENGTH:
        _fail("url", f"url is longer than {MAX_URL_LENGTH} characters")
    if _URL_FORBIDDEN_RE.search(url):
        _fail("url", "url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        _fail("url", f"url is not a valid URL: {exc}")
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "none"
        _fail("url", f"url must start with https:// or http://, not {scheme!r}")
    if not parts.hostname:
        _fail("url", "url must name a host, as in https://partner.example/authorize")
    if parts.username is not None or parts.password is not None:
        _fail("url", "url must not carry credentials (user:password@); use auth instead")
    if parts.fragment or url.endswith("#"):
        _fail("url", "url must not have a #fragment")
    if port == 0:
        _fail("url", "url must not use port 0")


def _operations(value: object) -> frozenset[Operation]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        _fail("operations", "operations must be a set of operations such as {'buy', 'sell'}")
    result = set()
    for item in value:
        try:
            result.add(Operation(item))
        except ValueError:
            choices = ", ".join(op.value for op in Operation)
            _fail("operations", f"operations may hold {choices}, not {item!r}")
    return frozenset(result)


def _operations_from_document(value: object) -> frozenset[Operation]:
    if not isinstance(value, Mapping):
        _fail("operations", 'operations must be an object such as {"buy": true, "read": false}')
    enabled = set(Operation)
    for name, flag in value.items():
        try:
            operation = Operation(name)
        except ValueError:
            _fail("operations", f"unknown operation {name!r} in operations")
        if not isinstance(flag, bool):
            _fail("operations", f"operations.{name} must be true or false, not {flag!r}")
        if not flag:
            enabled.discard(operation)
    return frozenset(enabled)


def _seconds(value: object, name: str, maximum: float, *, zero: bool) -> float:
    low = "0 or more" if zero else "more than 0"
    message = f"{name} must be a number of seconds, {low} and at most {maximum:g}, not {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(name, message)
    seconds = float(value)
    too_low = seconds < 0 or (seconds == 0 and not zero)
    if not math.isfinite(seconds) or too_low or seconds > maximum:
        _fail(name, message)
    return seconds


def _failure_mode(value: object) -> FailureMode:
    if isinstance(value, str):
        try:
            return FailureMode(value)
        except ValueError:
            pass
    _fail("failure_mode", f"failure_mode must be 'closed' or 'open', not {value!r}")


def _fail(field: str, message: str) -> NoReturn:
    raise InvalidAuthorizationConfig(message, field=field)
