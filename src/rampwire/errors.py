"""Exceptions raised by rampwire.

Every exception derives from :class:`RampwireError`; the docstring of each class is its default
message. Errors a client can cause carry an HTTP ``status`` and a problem ``code`` and are rendered
as RFC 9457 problem documents by :mod:`rampwire.api.problems`::

    RampwireError
    ├── ConfigError                   the configuration is invalid (at start-up)
    ├── StorageError                  database or migration failure (500, never user-caused)
    │   ├── DatabaseUnavailable       the database cannot be reached now (503, Retry-After)
    │   └── DuplicateRow              a unique key taken: the statement wrote nothing
    └── ClientError                   something the caller can fix (4xx)
        ├── BadRequest                400
        ├── Unauthorized              401
        ├── Forbidden                 403
        ├── NotFound                  404
        ├── Conflict                  409
        │   ├── IllegalTransition     409: the change would move an order backwards
        │   └── IdempotencyConflict   409: same Idempotency-Key, different request
        ├── InvalidRequest            422: fields that fail validation
        ├── PayloadTooLarge           413
        ├── TooManyRequests           429: over a partner's or a source's quota (Retry-After)
        └── UnsupportedMediaType      415
"""

from __future__ import annotations

from typing import Any, ClassVar


class RampwireError(Exception):
    """Something went wrong in rampwire."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip()
        super().__init__(self.message)


class ConfigError(RampwireError):
    """The configuration is invalid."""


class StorageError(RampwireError):
    """The database failed."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached right now; nothing was written, try again shortly."""


class DuplicateRow(StorageError):
    """A row with the same unique key exists already; the statement wrote nothing."""

    def __init__(
        self, message: str | None = None, *, table: str | None = None, constraint: str | None = None
    ) -> None:
        super().__init__(message)
        self.table = table  # the table whose key was taken, when the back-end says
        self.constraint = constraint  # its unique constraint or index, when the back-end says


class ClientError(RampwireError):
    """The request cannot be processed as sent."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


class BadRequest(ClientError):
    """The request is malformed."""


class Unauthorized(ClientError):
    """A valid API key is required: send `Authorization: Bearer <key>`."""

    status = 401
    code = "unauthorized"


class Forbidden(ClientError):
    """This API key is not allowed to do that."""

    status = 403
    code = "forbidden"


class NotFound(ClientError):
    """No such resource."""

    status = 404
    code = "not_found"


class Conflict(ClientError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """That status change would move the order backwards or overwrite a final status."""

    code = "illegal_transition"


class IdempotencyConflict(Conflict):
    """This Idempotency-Key was already used with a different request."""

    code = "idempotency_conflict"


class InvalidRequest(ClientError):
    """The request is well-formed but invalid; ``errors`` names each field and why."""

    status = 422
    code = "validation_error"


class PayloadTooLarge(ClientError):
    """The request body is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class TooManyRequests(ClientError):
    """Over the request quota; retry after ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"


class UnsupportedMediaType(ClientError):
    """Send the body as JSON with `Content-Type: application/json`."""

    status = 415
    code = "unsupported_media_type"


class ProviderOrderExists(Conflict):
    """An order with this provider and provider_order_id exists already; ``order_id`` names it."""

    code = "provider_order_exists"


class UnreadableOrder(Conflict):
    """The order is stored in a form this version cannot read; ``order_id`` names it."""

    code = "unreadable_order"
