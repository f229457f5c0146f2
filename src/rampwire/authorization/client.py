"""The authorization call: prepare the request, send it, and decide from what came back.

::

    async with AuthorizationClient(policy) as authorizer:
        decision = await authorizer.authorize(
            config,
            operation=Operation.BUY,
            subject=Subject(email="ana@example.com"),
            order=OrderSummary.from_order(order_data),
        )
        record_on_timeline(serde.dump(decision))
        decision.raise_if_refused()  # UserNotAllowed: 403 user_not_allowed

One client serves any number of configs: the cache key includes the config, so changing a
partner's config starts that partner afresh. Redirects are not followed (a 3xx is a refusal that
says to configure the final URL), so credentials never travel to a URL nobody configured.

Requests go through the SSRF guard's :class:`~rampwire.ssrf.WireClient` under ``policy``: a URL
or a name that resolves to a private, loopback or metadata address is refused at connect time
(DNS rebinding included), as a delivery is.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from ..ids import new_id
from ..ssrf import ForbiddenTarget, TargetPolicy, WireClient
from ..types import utcnow
from .answers import MAX_ANSWER_BYTES, UNRECOGNISED, parse_answer, quote
from .cache import DEFAULT_CACHE_SIZE, DecisionCache
from .config import MAX_TIMEOUT_SECONDS, AuthorizationConfig, FailureMode, Operation
from .decision import Decision, FailureKind, Outcome
from .request import REQUEST_ID_PREFIX, OrderSummary, Subject, encode_request

USER_AGENT: Final = "rampwire-authorization/1"
MAX_ERROR_CHARS: Final = 300  # characters of an exception's text kept in a reason

_SIDED: Final = frozenset({Operation.BUY, Operation.SELL})  # operations that create an order

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    truncated: bool  # the body was longer than MAX_ANSWER_BYTES


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: FailureKind
    reason: str


class AuthorizationClient:
    """Asks partners whether a user may go ahead, and remembers definite answers for a while."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``policy``: the addresses a callback may be sent to. ``clock`` (monotonic seconds)
        drives cache expiry and latency; tests inject their own. :meth:`close` (or ``async
        with``) closes the idle keep-alive connections."""
        # Each request passes its config's timeout, which bounds connect, send and answer
        # together. One byte over the cap is kept, so an answer that is too large is told apart.
        self._wire = WireClient(
            policy,
            connect_timeout=MAX_TIMEOUT_SECONDS,
            total_timeout=MAX_TIMEOUT_SECONDS,
            body_cap=MAX_ANSWER_BYTES + 1,
        )
        self._clock = clock
        self.cache = DecisionCache(max_entries=cache_size, clock=clock)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._wire.close()

    async def authorize(
        self,
        config: AuthorizationConfig,
        *,
        operation: Operation,
        subject: Subject,
        order: OrderSummary | None = None,
    ) -> Decision:
        """Decide whether ``subject`` may perform ``operation``. Never raises for the partner's
        behaviour (timeouts, errors and odd answers become decisions); cancellation propagates.
        """
        if order is not None and operation in _SIDED and order.side.value != operation.value:
            raise ValueError(f"a {order.side} order cannot be authorized as {operation}")
        started = self._clock()
        if not config.enabled_for(operation):
            return Decision(
                allowed=True,
                outcome=Outcome.DISABLED,
                reason=f"the authorization callback is not enabled for {operation}",
                operation=operation,
                subject=subject,
                latency_ms=0.0,
                decided_at=utcnow(),
            )
        key = (config, subject, operation)
        if config.cache_ttl_seconds > 0:
            hit = self.cache.get(key)
            if hit is not None:
                return dataclasses.replace(
                    hit, cached=True, latency_ms=self._ms_since(started), decided_at=utcnow()
                )

        request_id = new_id(REQUEST_ID_PREFIX)
        body = encode_request(
            request_id=request_id, operation=operation, subject=subject, order=order
        )
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **config.auth.headers(body, timestamp=int(time.time())),
        }
        result = await self._send(config, body, headers)
        decision = self._decide(config, operation, subject, request_id, result, started)
        if decision.cacheable:
            self.cache.put(key, decision, config.cache_ttl_seconds)
        return decision

    async def _send(
        self, config: AuthorizationConfig, body: bytes, headers: dict[str, str]
    ) -> _Reply | _Failure:
        seconds = config.timeout_seconds
        try:
            answer = await self._wire.post(config.url, headers, body, timeout=seconds)
        except TimeoutError:  # at connect or later: the config's timeout bounds both
            return _Failure(FailureKind.TIMEOUT, f"no answer within {seconds:g} s")
        except ForbiddenTarget as exc:
            return _Failure(FailureKind.CONNECTION, f"refused by the target policy: {exc}")
        except OSError as exc:  # refused, reset, DNS, TLS, not HTTP (AnswerError)
            text = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            return _Failure(FailureKind.CONNECTION, f"connection failed: {text}")
        truncated = len(answer.body) > MAX_ANSWER_BYTES
        return _Reply(answer.status, answer.body[:MAX_ANSWER_BYTES], truncated)

    def _decide(
        self,
        config: AuthorizationConfig,
        operation: Operation,
        subject: Subject,
        request_id: str,
        result: _Reply | _Failure,
        started: float,
    ) -> Decision:
        status: int | None = None
        failure: FailureKind | None = None
        if isinstance(result, _Failure):
            failure, reason = result.kind, result.reason
        elif result.status >= 500:
            status, failure = result.status, FailureKind.SERVER_ERROR
            reason = _status_reason(result)
        else:
            status = result.status
            allowed, reason = _read_reply(result)
        if failure is None:
            outcome = Outcome.ALLOWED if allowed else Outcome.REFUSED
        else:
            allowed = config.failure_mode is FailureMode.OPEN
            outcome = Outcome.ERROR_FAIL_OPEN if allowed else Outcome.ERROR_FAIL_CLOSED
            logger.warning(
                "authorization callback for %s failed (%s), %s: %s",
                operation,
                failure,
                outcome,
                reason,
            )
        return Decision(
            allowed=allowed,
            outcome=outcome,
            reason=reason,
            operation=operation,
            subject=subject,
            latency_ms=self._ms_since(started),
            http_status=status,
            failure=failure,
            request_id=request_id,
            decided_at=utcnow(),
        )

    def _ms_since(self, started: float) -> float:
        return round(max(0.0, self._clock() - started) * 1000, 3)


def _read_reply(reply: _Reply) -> tuple[bool, str]:
    """A definite answer from a status below 500: allowed or not, and why."""
    if 200 <= reply.status < 300:
        if reply.truncated:
            return False, f"{UNRECOGNISED}: larger than {MAX_ANSWER_BYTES} bytes"
        answer = parse_answer(reply.body)
        return answer.allowed, answer.reason
    if 300 <= reply.status < 400:
        return False, (
            f"partner answered HTTP {reply.status}: redirects are not followed, "
            "configure the final URL"
        )
    return False, _status_reason(reply)  # 4xx


def _status_reason(reply: _Reply) -> str:
    quoted = quote(reply.body)
    return f"partner answered HTTP {reply.status}" + (f": {quoted}" if quoted else "")
