"""The faults a simulated provider injects, and what a safe receiver answers to each.

Two kinds. **Sequence faults** change when or how often authentic requests arrive (duplicates,
reordering, delays, a drop answered by the provider's retry): a safe receiver answers each
2xx. **Forged faults** are extra requests that look like the provider's but are not authentic
(a wrong key, a tampered body, a stale or replayed timestamp, a broken JWT or JWS): a safe
receiver refuses each; a 2xx is a security finding. Each forged request goes out just before the
authentic step it imitates, so a receiver that accepts it shows the damage in the order's state.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import orjson

from ..dialects import fireblocks, jsjson
from ..dialects.base import DialectName, WireRequest
from ..dialects.jose import b64url_encode, protected_header, rs512_sign
from ..dialects.wire import hmac_sha256

STALE_BY: Final = timedelta(hours=1)  # far outside every provider's five-minute window
REPLAY_AGE: Final = timedelta(hours=2)  # a request captured this long ago, sent again


class Fault(StrEnum):
    NONE = "none"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    DELAY = "delay"
    DROP = "drop"
    WRONG_KEY = "wrong_key"
    TAMPERED = "tampered"
    STALE = "stale"
    REPLAY = "replay"
    TRUNCATED = "truncated"
    CONTENT_TYPE = "content_type"
    ALG_NONE = "alg_none"
    HS256_OTHER_KEY = "hs256_other_key"
    UNKNOWN_KID = "unknown_kid"
    LEGACY_ONLY = "legacy_only"
    PYTHON_JSON = "python_json"


class Expect(StrEnum):
    """What a safe receiver answers."""

    ACCEPT = "accept"  # authentic: 2xx; anything else is a reliability finding
    REFUSE = "refuse"  # forged: not 2xx; a 2xx is a security finding
    REJECT = "reject"  # malformed: 4xx; a 5xx is a reliability finding
    EITHER = "either"  # a matter of configuration: reported, never a finding


SEQUENCE: Final = frozenset({Fault.DUPLICATE, Fault.REORDER, Fault.DELAY, Fault.DROP})

EXPECT: Final[Mapping[Fault, Expect]] = {
    Fault.NONE: Expect.ACCEPT,
    Fault.DUPLICATE: Expect.ACCEPT,
    Fault.REORDER: Expect.ACCEPT,
    Fault.DELAY: Expect.ACCEPT,
    Fault.DROP: Expect.ACCEPT,
    Fault.WRONG_KEY: Expect.REFUSE,
    Fault.TAMPERED: Expect.REFUSE,
    Fault.STALE: Expect.REFUSE,
    Fault.REPLAY: Expect.REFUSE,
    Fault.TRUNCATED: Expect.REJECT,
    Fault.CONTENT_TYPE: Expect.EITHER,
    Fault.ALG_NONE: Expect.REFUSE,
    Fault.HS256_OTHER_KEY: Expect.REFUSE,
    Fault.UNKNOWN_KID: Expect.REFUSE,
    Fault.LEGACY_ONLY: Expect.EITHER,
    Fault.PYTHON_JSON: Expect.REFUSE,
}

_TIMED: Final = frozenset(
    {
        DialectName.STANDARD,
        DialectName.REVOLUT,
        DialectName.SABER,
        DialectName.KOYWE,
        DialectName.TRANSAK,
    }
)  # the dialects that sign a time; Fireblocks signs none, so its stale and replays are moot

_ONLY: Final[Mapping[Fault, frozenset[DialectName]]] = {
    Fault.STALE: _TIMED,
    Fault.REPLAY: _TIMED,
    Fault.ALG_NONE: frozenset({DialectName.TRANSAK}),
    Fault.HS256_OTHER_KEY: frozenset({DialectName.TRANSAK}),
    Fault.UNKNOWN_KID: frozenset({DialectName.FIREBLOCKS}),
    Fault.LEGACY_ONLY: frozenset({DialectName.FIREBLOCKS}),
    Fault.PYTHON_JSON: frozenset({DialectName.KOYWE}),
}


def applies(fault: Fault, dialect: DialectName) -> bool:
    """Whether ``fault`` means something for ``dialect`` (an ``alg: none`` JWT is Transak's)."""
    return fault is not Fault.NONE and dialect in _ONLY.get(fault, frozenset(DialectName))


def parse_faults(specs: tuple[str, ...], *, default_rate: float) -> dict[Fault, float]:
    """``NAME`` or ``NAME=RATE`` (0 to 1), or ``all``; :class:`ValueError` says what is wrong."""
    chosen: dict[Fault, float] = {}
    for spec in specs:
        name, _, rate_text = spec.partition("=")
        try:
            rate = float(rate_text) if rate_text else default_rate
        except ValueError:
            raise ValueError(f"fault {spec!r}: the rate must be a number from 0 to 1") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault {spec!r}: the rate must be from 0 to 1")
        names: list[Fault] | None = None
        if name.strip() == "all":
            names = [f for f in Fault if f is not Fault.NONE]
        if names is None:
            try:
                names = [Fault(name.strip().lower())]
            except ValueError:
                known = ", ".join(f.value for f in Fault if f is not Fault.NONE)
                raise ValueError(f"no fault is called {name!r}; known: all, {known}") from None
        for fault in names:
            chosen[fault] = rate
    return chosen


# --- forging --------------------------------------------------------------------------------

Encode = Callable[[datetime, Any], WireRequest]  # (now, credentials) -> the authentic request


@dataclass(frozen=True, kw_only=True, slots=True)
class Forger:
    """Builds one step's forged variants from its authentic encoder and the credentials."""

    dialect: DialectName
    credentials: Any
    wrong_credentials: Any

    def forge(
        self, fault: Fault, encode: Encode, now: datetime, earlier: Encode | None
    ) -> WireRequest:
        genuine = encode(now, self.credentials)
        if fault in (Fault.WRONG_KEY, Fault.HS256_OTHER_KEY):
            return encode(now, self.wrong_credentials)
        if fault is Fault.TAMPERED:
            return WireRequest(headers=genuine.headers, body=_tamper(genuine.body))
        if fault is Fault.STALE:
            return encode(now - STALE_BY, self.credentials)
        if fault is Fault.REPLAY:
            return (earlier or encode)(now - REPLAY_AGE, self.credentials)
        if fault is Fault.TRUNCATED:
            return WireRequest(headers=genuine.headers, body=genuine.body[: len(genuine.body) // 2])
        if fault is Fault.CONTENT_TYPE:
            headers = {k: v for k, v in genuine.headers.items() if k.lower() != "content-type"}
            return WireRequest(headers={**headers, "content-type": "text/plain"}, body=genuine.body)
        if fault is Fault.ALG_NONE:
            return _alg_none(genuine)
        if fault is Fault.UNKNOWN_KID:
            return _unknown_kid(genuine, self.credentials)
        if fault is Fault.LEGACY_ONLY:
            headers = {k: v for k, v in genuine.headers.items() if k != fireblocks.SIGNATURE_HEADER}
            key = self.credentials.signing_key
            legacy = base64.b64encode(rs512_sign(key, genuine.body)).decode()
            return WireRequest(
                headers={**headers, fireblocks.LEGACY_SIGNATURE_HEADER: legacy}, body=genuine.body
            )
        if fault is Fault.PYTHON_JSON:
            return _python_json(genuine, self.credentials)
        raise ValueError(f"{fault.value} is not a forged fault")


def _tamper(body: bytes) -> bytes:
    """The body with one digit changed (an amount, a time, an id), still well-formed."""
    text = bytearray(body)
    for index in range(len(text) // 2, len(text)):
        if chr(text[index]).isdigit():
            text[index] = ord("1") if text[index] != ord("1") else ord("2")
            return bytes(text)
    return body + b" "


def _alg_none(genuine: WireRequest) -> WireRequest:
    """Transak: the same claims under ``{"alg": "none"}`` and no signature."""
    token = str(orjson.loads(genuine.body)["data"])
    claims = token.split(".")[1]
    header = b64url_encode(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return WireRequest(headers=genuine.headers, body=orjson.dumps({"data": f"{header}.{claims}."}))


def _unknown_kid(genuine: WireRequest, credentials: Any) -> WireRequest:
    """Fireblocks: signed with the right key, under a ``kid`` the receiver never saw."""
    key = credentials.signing_key
    header = protected_header({"alg": fireblocks.ALGORITHM, "kid": "rotated-" + key.kid[:12]})
    signature = rs512_sign(key, f"{header}.{b64url_encode(genuine.body)}".encode("ascii"))
    headers = {
        k: v
        for k, v in genuine.headers.items()
        if k not in (fireblocks.SIGNATURE_HEADER, fireblocks.LEGACY_SIGNATURE_HEADER)
    }
    headers[fireblocks.SIGNATURE_HEADER] = f"{header}..{b64url_encode(signature)}"
    return WireRequest(headers=headers, body=genuine.body)


def _python_json(genuine: WireRequest, credentials: Any) -> WireRequest:
    """Koywe: signed over Python's ``json.dumps`` (spaces after separators), not JavaScript's."""
    payload = orjson.loads(genuine.body)
    payload.pop("signature", None)
    secret = credentials.secrets[0].reveal().encode()
    signature = hmac_sha256(secret, json.dumps(payload).encode()).hex()
    body = jsjson.stringify({**payload, "signature": signature})
    return WireRequest(headers=genuine.headers, body=body)


def wrong_secret(secret: str, rng: random.Random) -> str:
    """A secret of the same shape that is not the one configured (a ``whsec_`` stays base64)."""
    if secret.startswith("whsec_"):
        return "whsec_" + base64.b64encode(rng.randbytes(32)).decode()
    prefix = secret[:4] if secret[:4].endswith("_") else ""
    return prefix + "wrong-" + rng.randbytes(16).hex()
