"""How rampwire proves itself to a partner's authorization URL: one of four methods.

Each method is a frozen record, validated at construction, that keeps its secret in a
:class:`~rampwire.settings.Secret` (so ``repr`` never shows it) and builds the headers for one
request body:

============  ==========================================================================
method        headers sent
============  ==========================================================================
bearer        ``Authorization: Bearer <token>``
basic         ``Authorization: Basic base64(<username>:<password>)``, UTF-8 (RFC 7617)
header        ``<name>: <value>``, a header of the partner's choosing
hmac_sha256   ``X-Rampwire-Timestamp`` and ``X-Rampwire-Signature`` (:mod:`.signing`)
============  ==========================================================================

Each record splits into a document without secrets and a mapping of secrets, and is rebuilt from
the two by :func:`auth_from_document`; the mapping's keys are the field names (``token``,
``password``, ``value``, ``secret``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Final, NoReturn, TypeAlias

from ..settings import Secret
from ..types import JSONObject
from .errors import InvalidAuthorizationConfig
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

MAX_SECRET_LENGTH: Final = 4096  # characters, for every secret
MAX_NAME_LENGTH: Final = 256  # characters: header names and Basic user names
MIN_HMAC_SECRET_LENGTH: Final = 16  # characters; 32 random bytes is the recommendation

RESERVED_HEADER_PREFIX: Final = "x-rampwire-"
FORBIDDEN_HEADERS: Final = frozenset(
    {
        # framing and hop-by-hop headers (RFC 9110 section 7.6.1): the HTTP client owns them
        "connection",
        "content-length",
        "expect",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        # the body's own description: rampwire sends JSON, and says so
        "content-encoding",
        "content-type",
    }
)

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: a valid header name
_VISIBLE_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
_FIELD_VALUE_RE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")  # no edge spaces
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class AuthKind(StrEnum):
    BEARER = "bearer"
    BASIC = "basic"
    HEADER = "header"
    HMAC_SHA256 = "hmac_sha256"


@dataclass(frozen=True, kw_only=True, slots=True)
class BearerAuth:
    """``Authorization: Bearer <token>``: the token without the ``Bearer`` prefix."""

    kind: ClassVar[AuthKind] = AuthKind.BEARER
    token: Secret

    def __post_init__(self) -> None:
        token = _secret(self.token, "token")
        if token[:7].lower() == "bearer ":
            _fail("token", "auth.token must be the bare token, without the 'Bearer ' prefix")
        if not _VISIBLE_RE.fullmatch(token):
            _fail(
                "token",
                "auth.token may hold only printable ASCII characters, without spaces or line "
                "breaks",
            )

    def headers(self, body: bytes, *, timestamp: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.reveal()}"}

    def document(self) -> JSONObject:
        return {"method": self.kind.value}

    def public(self) -> JSONObject:
        return {"method": self.kind.value, "token_set": True}

    def secrets(self) -> dict[str, Secret]:
        return {"token": self.token}


@dataclass(frozen=True, kw_only=True, slots=True)
class BasicAuth:
    """``Authorization: Basic ...`` (RFC 7617). The password may be empty (an API key as user)."""

    kind: ClassVar[AuthKind] = AuthKind.BASIC
    username: str
    password: Secret

    def __post_init__(self) -> None:
        if not isinstance(self.username, str) or not self.username:
            _fail("username", "auth.username must be a non-empty string")
        if len(self.username) > MAX_NAME_LENGTH:
            _fail("username", f"auth.username is longer than {MAX_NAME_LENGTH} characters")
        if ":" in self.username:
            _fail("username", "auth.username must not contain ':' (RFC 7617)")
        if _CONTROL_RE.search(self.username):
            _fail("username", "auth.username must not contain control characters")
        password = _secret(self.password, "password", allow_empty=True)
        if _CONTROL_RE.search(password):
            _fail("password", "auth.password must not contain control characters")

    def headers(self, body: bytes, *, timestamp: int) -> dict[str, str]:
        pair = f"{self.username}:{self.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def document(self) -> JSONObject:
        return {"method": self.kind.value, "username": self.username}

    def public(self) -> JSONObject:
        return {
            "method": self.kind.value,
            "username": self.username,
            "password_set": bool(self.password.reveal()),
        }

    def secrets(self) -> dict[str, Secret]:
        return {"password": self.password}


@dataclass(frozen=True, kw_only=True, slots=True)
class HeaderAuth:
    """A header of the partner's choosing, such as ``X-Api-Key: <value>``.

    ``Authorization`` is allowed here, for schemes other than Bearer and Basic
    (``Authorization: Token abc``). Framing and hop-by-hop headers, ``Content-Type`` and the
    ``X-Rampwire-`` prefix are not.
    """

    kind: ClassVar[AuthKind] = AuthKind.HEADER
    name: str
    value: Secret

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name:
            _fail("name", "auth.name must be a non-empty header name")
        if len(name) > MAX_NAME_LENGTH or not _TOKEN_RE.fullmatch(name):
            _fail(
                "name",
                f"auth.name {name[:MAX_NAME_LENGTH]!r} is not a valid header name: use at most "
                f"{MAX_NAME_LENGTH} letters, digits and !#$%&'*+-.^_`|~",
            )
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADERS:
            _fail("name", f"auth.name {name!r} is set by the HTTP client; choose another header")
        if lowered.startswith(RESERVED_HEADER_PREFIX):
            _fail("name", f"auth.name {name!r} is reserved: X-Rampwire-* headers are rampwire's")
        value = _secret(self.value, "value")
        if not _FIELD_VALUE_RE.fullmatch(value):
            _fail(
                "value",
                "auth.value may hold only printable ASCII characters, without line breaks or "
                "leading and trailing spaces",
            )

    def headers(self, body: bytes, *, timestamp: int) -> dict[str, str]:
        return {self.name: self.value.reveal()}

    def document(self) -> JSONObject:
        return {"method": self.kind.value, "name": self.name}

    def public(self) -> JSONObject:
        return {"method": self.kind.value, "name": self.name, "value_set": True}

    def secrets(self) -> dict[str, Secret]:
        return {"value": self.value}


@dataclass(frozen=True, kw_only=True, slots=True)
class HmacAuth:
    """An HMAC-SHA256 signature of timestamp and body, in two headers (:mod:`.signing`)."""

    kind: ClassVar[AuthKind] = AuthKind.HMAC_SHA256
    secret: Secret

    def __post_init__(self) -> None:
        secret = _secret(self.secret, "secret")
        if len(secret) < MIN_HMAC_SECRET_LENGTH:
            _fail(
                "secret",
                f"auth.secret must be at least {MIN_HMAC_SECRET_LENGTH} characters; use 32 "
                "random bytes, for example secrets.token_urlsafe(32)",
            )
        if secret != secret.strip():
            _fail("secret", "auth.secret must not start or end with whitespace")

    def headers(self, body: bytes, *, timestamp: int) -> dict[str, str]:
        return {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }

    def document(self) -> JSONObject:
        return {"method": self.kind.value}

    def public(self) -> JSONObject:
        return {"method": self.kind.value, "secret_set": True}

    def secrets(self) -> dict[str, Secret]:
        return {"secret": self.secret}


AuthMethod: TypeAlias = BearerAuth | BasicAuth | HeaderAuth | HmacAuth
AUTH_METHODS: Final = (BearerAuth, BasicAuth, HeaderAuth, HmacAuth)


def auth_from_document(
    document: Mapping[str, Any], secrets: Mapping[str, Secret | str]
) -> AuthMethod:
    """Rebuild an auth method from :meth:`document` and :meth:`secrets` output."""
    method = document.get("method")
    known = {"method"}
    auth: AuthMethod
    if method == AuthKind.BEARER:
        auth = BearerAuth(token=_stored_secret(secrets, "token"))
    elif method == AuthKind.BASIC:
        known.add("username")
        auth = BasicAuth(
            username=_stored_str(document, "username"),
            password=_stored_secret(secrets, "password"),
        )
    elif method == AuthKind.HEADER:
        known.add("name")
        auth = HeaderAuth(
            name=_stored_str(document, "name"), value=_stored_secret(secrets, "value")
        )
    elif method == AuthKind.HMAC_SHA256:
        auth = HmacAuth(secret=_stored_secret(secrets, "secret"))
    else:
        choices = ", ".join(kind.value for kind in AuthKind)
        _fail("method", f"auth.method must be one of {choices}, not {method!r}")
    unknown = sorted(str(key) for key in document if key not in known)
    if unknown:
        _fail("auth", f"auth has unknown fields for method {method}: {', '.join(unknown)}")
    return auth


def _secret(value: object, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, Secret):
        raise TypeError(f"auth.{name} must be a rampwire.settings.Secret, not {type(value)}")
    revealed = value.reveal()
    if not isinstance(revealed, str):
        raise TypeError(f"auth.{name} must wrap a string")
    if not revealed and not allow_empty:
        _fail(name, f"auth.{name} must not be empty")
    if len(revealed) > MAX_SECRET_LENGTH:
        _fail(name, f"auth.{name} is longer than {MAX_SECRET_LENGTH} characters")
    return revealed


def _stored_secret(secrets: Mapping[str, Secret | str], name: str) -> Secret:
    value = secrets.get(name)
    if value is None:
        _fail(name, f"the secret auth.{name} is missing")
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    _fail(name, f"the secret auth.{name} must be a string")


def _stored_str(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        _fail(name, f"auth.{name} must be a string")
    return value


def _fail(name: str, message: str) -> NoReturn:
    field = name if name == "auth" else f"auth.{name}"
    raise InvalidAuthorizationConfig(message, field=field)
