"""The errors of the dialects. Every failure of a decoder is a :class:`DialectError`; nothing
else escapes one (:func:`translate_errors` turns library and parsing errors into
:class:`MalformedPayload`)::

    DialectError                       400  the request or the configuration is unusable
    ├── VerificationError              401  the request is not proven authentic
    │   ├── MissingHeader                   a header the scheme needs is absent
    │   ├── MissingSignature                the body carries no signature (Koywe, Transak)
    │   ├── MalformedHeader                 a signature or timestamp header cannot be parsed
    │   ├── SignatureMismatch               no configured secret or key produces the signature
    │   ├── TimestampOutOfWindow            the signed time is too far from now
    │   ├── MissingTimestamp                the signed content carries no time to check
    │   ├── TokenExpired                    the JWT's ``exp`` has passed
    │   ├── UnknownKey                      the ``kid`` names no configured key
    │   ├── UnsupportedAlgorithm            ``alg`` is not the pinned one (``none``, HS/RS swap)
    │   └── SourceRejected                  the peer address or URL token is not the configured one
    ├── MalformedPayload               400  the body is not the provider's format
    │   └── DuplicateKey                    a JSON object names the same key twice
    ├── UnsupportedEvent               422  the dialect cannot express this event or side
    ├── InvalidCredentials             400  the configured secrets or keys are unusable
    └── UnknownDialect                 404  no dialect has that name
"""

from __future__ import annotations

import binascii

from cryptography import exceptions as crypto_exceptions

from ..errors import ClientError


class DialectError(ClientError):
    """The webhook request cannot be used."""

    status = 400
    code = "dialect_error"


class VerificationError(DialectError):
    """The webhook request is not proven to come from its sender."""

    status = 401
    code = "webhook_verification_failed"


class MissingHeader(VerificationError):
    """A header the signature scheme needs is missing."""


class MissingSignature(VerificationError):
    """The request carries no signature."""


class MalformedHeader(VerificationError):
    """A signature or timestamp header cannot be parsed."""


class SignatureMismatch(VerificationError):
    """The signature matches none of the configured secrets or keys."""


class TimestampOutOfWindow(VerificationError):
    """The signed timestamp is too far from the current time."""


class MissingTimestamp(VerificationError):
    """The signed content carries no time, so its freshness cannot be checked."""


class TokenExpired(VerificationError):
    """The token has expired."""


class UnknownKey(VerificationError):
    """The signature names a key that is not configured."""


class UnsupportedAlgorithm(VerificationError):
    """The signature uses an algorithm this dialect does not accept."""


class SourceRejected(VerificationError):
    """The request does not come from an allowed address or with the configured token."""


class MalformedPayload(DialectError):
    """The body is not in the provider's format."""

    code = "malformed_payload"


class DuplicateKey(MalformedPayload):
    """A JSON object in the body names the same key twice."""

    code = "duplicate_json_key"


class UnsupportedEvent(DialectError):
    """This dialect cannot express that event."""

    status = 422
    code = "unsupported_event"


class InvalidCredentials(DialectError):
    """The configured secrets or keys cannot be used."""

    code = "invalid_credentials"


class UnknownDialect(DialectError):
    """No dialect has that name."""

    status = 404
    code = "unknown_dialect"


_STRAY_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # also json/orjson decode errors, binascii.Error, pydantic ValidationError
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    UnicodeError,
    ArithmeticError,  # decimal.InvalidOperation, OverflowError
    RecursionError,  # deeply nested JSON in the standard library parser
    binascii.Error,
    crypto_exceptions.InvalidSignature,
    crypto_exceptions.UnsupportedAlgorithm,
    crypto_exceptions.InvalidKey,
)


class translate_errors:  # a context manager used as a function, as contextlib's are
    """Turn any library or parsing error raised inside into :class:`MalformedPayload`.

    A class rather than ``@contextmanager``: every verified request passes through one, and a
    generator's frames and its wrapper cost more than the decoding they guard."""

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: object
    ) -> None:  # None, never True: an error not translated passes through as it is
        if exc is None or isinstance(exc, DialectError) or not isinstance(exc, _STRAY_ERRORS):
            return
        raise MalformedPayload(f"{self._what}: {exc or type(exc).__name__}") from exc
