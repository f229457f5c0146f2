"""Reading a partner's 2xx answer as allowed or refused.

Koywe only says the partner answers "something that looks like a boolean". rampwire accepts a
short, exact list, and reads everything else as a refusal whose reason quotes the answer (it never
raises). The body is parsed as JSON whatever its Content-Type, so a ``text/plain`` ``true`` works.

============================  ================================  ==============================
form                          allowed                           refused
============================  ================================  ==============================
JSON boolean                  ``true``                          ``false``
JSON string, exact            ``"true"``                        ``"false"``
JSON integer                  ``1``                             ``0``
object, one or more keys      ``{"allowed": <allowed scalar>}``  ``{"allowed": <refused scalar>}``
of allowed / valid / data     ``{"valid": ...}``, ``{"data": ...}``, same scalars
``data`` around an object     ``{"data": {"allowed": true}}``   ``{"data": {"valid": false}}``
============================  ================================  ==============================

Edge cases, decided:

* Whitespace around the JSON value is JSON's own and ignored (``" true\\n"`` is allowed); inside a
  string it is not (``" true"``, ``"TRUE"``, ``"True"``, ``"yes"`` are unrecognised).
* ``1.0``, ``1e0``, ``2``, ``-1``, ``null``, arrays, ``{}`` and an empty body are unrecognised.
* Other keys beside the recognised ones are ignored (``{"allowed": false, "reason": "KYC"}``),
  and quoted in the reason. When several recognised keys are present, all must allow; any
  unrecognised value makes the whole answer unrecognised.
* ``data`` unwraps once: ``{"data": {"data": true}}`` is unrecognised.
* A body that is not UTF-8 JSON, or is larger than :data:`MAX_ANSWER_BYTES`, is unrecognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import orjson

MAX_ANSWER_BYTES: Final = 64 * 1024  # a boolean needs a few bytes; more is not an answer
MAX_QUOTE_CHARS: Final = 200  # characters of the partner's body kept in a reason

UNRECOGNISED: Final = "unrecognised answer"

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WRAPPER_KEYS: Final = ("allowed", "valid")
_KEYS: Final = (*_WRAPPER_KEYS, "data")


class _Verdict(Enum):
    ALLOW = "allow"
    REFUSE = "refuse"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    """A partner's answer as read: allowed or not, and a reason that quotes it."""

    allowed: bool
    recognised: bool
    reason: str


def parse_answer(body: bytes) -> Answer:
    """Read a 2xx body. Never raises."""
    quoted = quote(body)
    if len(body) > MAX_ANSWER_BYTES:
        return _unrecognised(f"larger than {MAX_ANSWER_BYTES} bytes")
    if not body.strip():
        return _unrecognised("empty body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _unrecognised(f"not JSON: {quoted}")
    verdict = _judge(value, unwrap_data=True)
    if verdict is _Verdict.ALLOW:
        return Answer(allowed=True, recognised=True, reason=f"allowed by partner: {quoted}")
    if verdict is _Verdict.REFUSE:
        return Answer(allowed=False, recognised=True, reason=f"refused by partner: {quoted}")
    return _unrecognised(quoted)


def quote(body: bytes, limit: int = MAX_QUOTE_CHARS) -> str:
    """A short, single-line, printable rendering of a body, for reasons and logs."""
    text = body[: limit * 4].decode("utf-8", errors="replace")
    text = _CONTROL_RE.sub("\ufffd", " ".join(text.split()))
    if len(text) > limit or len(body) > limit * 4:
        text = text[:limit] + "…"
    return text


def _unrecognised(detail: str) -> Answer:
    return Answer(allowed=False, recognised=False, reason=f"{UNRECOGNISED}: {detail}")


def _scalar(value: Any) -> _Verdict:
    # `type(value) is int` keeps out floats (1.0) and bools, which are already matched by identity
    if value is True or value == "true" or (type(value) is int and value == 1):
        return _Verdict.ALLOW
    if value is False or value == "false" or (type(value) is int and value == 0):
        return _Verdict.REFUSE
    return _Verdict.UNKNOWN


def _judge(value: Any, *, unwrap_data: bool) -> _Verdict:
    if not isinstance(value, dict):
        return _scalar(value)
    keys = _KEYS if unwrap_data else _WRAPPER_KEYS
    verdicts = []
    for key in keys:
        if key not in value:
            continue
        inner = value[key]
        if key == "data" and isinstance(inner, dict):
            verdicts.append(_judge(inner, unwrap_data=False))
        else:
            verdicts.append(_scalar(inner))
    if not verdicts or _Verdict.UNKNOWN in verdicts:
        return _Verdict.UNKNOWN
    if _Verdict.REFUSE in verdicts:
        return _Verdict.REFUSE
    return _Verdict.ALLOW
