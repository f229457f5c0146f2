"""One attempt: prepare (encode and sign in the endpoint's dialect) → send → on success or on
failure, with a typed result.

A ``standard`` endpoint gets the stored envelope byte for byte; a provider dialect re-encodes the
event and the order snapshot inside it in that provider's wire format, signed its way. An event
the dialect cannot express (an off-ramp order to a buy-only format) is dead at once, unsent.

Nothing here touches the database: the worker claims, the sender sends, the result is recorded
in batches. A receiver that hangs, resets, redirects, answers 5xx, sends a huge body or trickles
bytes holds the attempt no longer than the total timeout, and each becomes a failed attempt
with its :class:`ErrorClass`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from typing import Any

from ..dialects import standard
from ..dialects.base import DeliveryPolicy, Dialect, DialectName, WireRequest
from ..dialects.errors import DialectError
from ..domain.deliveries import (
    ATTEMPT_ID_PREFIX,
    BODY_CAP_BYTES,
    Attempt,
    Claimed,
    DeliveryStatus,
    ErrorClass,
    Result,
)
from ..ids import new_id
from ..ssrf import ForbiddenTarget, WireClient
from ..types import utcnow
from .retry import next_attempt_at

CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 15.0
USER_AGENT = f"rampwire/{version('rampwire')} (+webhooks)"
REDACTED = "[redacted]"


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """What the sender needs of an endpoint, prepared once and cached by the worker."""

    endpoint_id: str
    url: str
    dialect: Dialect[Any]
    credentials: Any  # the dialect's credentials type
    headers: Mapping[str, str]
    policy: DeliveryPolicy
    max_in_flight: int
    rate_limit: int | None
    traceparent: bool = False  # send the attempt span's W3C traceparent (tracing on)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Answer:
    status: int | None
    headers: dict[str, str] | None
    body: str | None
    error_class: ErrorClass | None
    error: str | None
    retry_after: str | None


class Sender:
    def __init__(self, client: WireClient, *, rng: random.Random | None = None) -> None:
        self._client = client
        self._rng = rng or random.Random()

    async def attempt(
        self, claimed: Claimed, target: Target, traced: Mapping[str, str] | None = None
    ) -> Result:
        """One attempt; ``traced``: the attempt span's ``traceparent`` header, when the
        endpoint asked for it (kept in the attempt log, unlike the custom headers)."""
        started = utcnow()
        try:
            wire = _prepare(claimed, target, started)
        except DialectError as exc:
            answer = _failure(ErrorClass.UNENCODABLE, f"{target.dialect.name.value}: {exc}")
            return self._conclude(claimed, target, {}, None, answer, started, 0)
        headers = {**target.headers, **(traced or {}), **wire.headers, "user-agent": USER_AGENT}
        clock = time.perf_counter()
        answer = await self._send(target.url, headers, wire.body)
        duration_us = int((time.perf_counter() - clock) * 1_000_000)
        # The stored payload sent unchanged (standard) is not copied into every attempt row:
        # the attempt log shows it from the event (``attempt_json``); the hot path writes less.
        body = None if wire.body is claimed.payload else wire.body
        return self._conclude(claimed, target, headers, body, answer, started, duration_us)

    async def _send(self, url: str, headers: dict[str, str], body: bytes) -> _Answer:
        try:
            answer = await self._client.post(url, headers, body)
        except TimeoutError as exc:
            return _failure(ErrorClass.TIMEOUT, f"no complete answer within the timeout ({exc!r})")
        except ForbiddenTarget as exc:
            return _failure(ErrorClass.FORBIDDEN_TARGET, str(exc))
        except OSError as exc:  # refused, reset, cut short, not HTTP, a certificate refused
            return _failure(ErrorClass.CONNECTION, f"{type(exc).__name__}: {exc}")
        status = answer.status
        error_class = None
        error = None
        if 300 <= status < 400:
            error_class = ErrorClass.REDIRECT
            error = f"redirect to {answer.headers.get('location', '?')} not followed"
        elif not 200 <= status < 300:
            error_class, error = ErrorClass.HTTP_STATUS, f"HTTP {status}"
        return _Answer(
            status=status,
            headers=answer.headers,
            body=answer.body.decode("utf-8", "replace"),
            error_class=error_class,
            error=error,
            retry_after=answer.headers.get("retry-after"),
        )

    def _conclude(
        self,
        claimed: Claimed,
        target: Target,
        headers: dict[str, str],
        body: bytes | None,
        answer: _Answer,
        started: datetime,
        duration_us: int,
    ) -> Result:
        attempt_no = claimed.attempts + 1
        logged = {k: (REDACTED if k in target.headers else v) for k, v in headers.items()}
        attempt = Attempt(
            id=new_id(ATTEMPT_ID_PREFIX),
            delivery_id=claimed.id,
            attempt=attempt_no,
            started_at=started,
            duration_us=duration_us,
            request_url=target.url,
            request_headers=logged,
            request_body=None if body is None else _capped_text(body),
            response_status=answer.status,
            response_headers=answer.headers,
            response_body=answer.body,
            error_class=answer.error_class,
            error=answer.error,
        )
        if answer.error_class is None:
            return Result(
                claimed=claimed,
                attempt=attempt,
                status=DeliveryStatus.SUCCEEDED,
                next_attempt_at=None,
                succeeded=True,
            )
        gone = answer.status == 410
        retry_at = None
        if not gone:
            retry_at = next_attempt_at(
                target.policy,
                attempts_made=attempt_no,
                status=answer.status,
                error_class=answer.error_class,
                retry_after=answer.retry_after,
                now=utcnow(),
                rng=self._rng,
            )
        return Result(
            claimed=claimed,
            attempt=attempt,
            status=DeliveryStatus.DEAD if retry_at is None else DeliveryStatus.RETRYING,
            next_attempt_at=retry_at,
            succeeded=False,
            disable_endpoint="the receiver answered 410 Gone" if gone else None,
        )


def _prepare(claimed: Claimed, target: Target, now: datetime) -> WireRequest:
    return prepare(claimed.event_id, claimed.payload, target.dialect, target.credentials, now=now)


def prepare(
    event_id: str, payload: bytes, dialect: Dialect[Any], credentials: Any, *, now: datetime
) -> WireRequest:
    """The request that carries a stored event in ``dialect``, signed now: the stored payload
    as is for ``standard``, re-encoded for a provider's format. Raises the dialect's error for
    an event that format cannot express. Deliveries and listen sessions both go through here."""
    if dialect.name is DialectName.STANDARD:
        return standard.sign(event_id, payload, credentials, now=now)
    event, order = standard.stored_event(payload)
    return dialect.encode(event, order, credentials, now=now)


def _capped_text(body: bytes) -> str:
    return body[:BODY_CAP_BYTES].decode("utf-8", "replace")


def _failure(error_class: ErrorClass, error: str) -> _Answer:
    return _Answer(
        status=None, headers=None, body=None, error_class=error_class, error=error, retry_after=None
    )


__all__ = ["USER_AGENT", "Sender", "Target", "prepare"]
