"""The worker: claims due deliveries under a lease, sends them concurrently, records results in
batches, and wakes on new work without a polling delay.

Side tasks, supervised together: the *claimer* (claims up to the free capacity, starts one send
task per delivery), the *recorder* (writes attempt results in batches), and on PostgreSQL the
*listener* (``LISTEN rampwire_deliveries``). In-process publishers call :meth:`Worker.wake`.
On stop, the claimer stops, sends in flight get :data:`SHUTDOWN_TIMEOUT_S` to finish, and the
recorder writes what is left; a delivery whose result was not written is sent again once its
lease expires (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp

from ..crypto import SecretBox
from ..dialects import FireblocksCredentials, get_dialect
from ..dialects.base import DialectError
from ..endpoints import KEY_SIGNED, Endpoint
from ..errors import NotFound, StorageError
from ..ids import new_id
from ..repository.deliveries import DeliveryRepository
from ..repository.endpoints import EndpointRepository
from ..repository.signing_keys import SigningKeyRepository
from ..storage import Database
from ..types import utcnow
from .limits import EndpointLimiter
from .records import Claimed, Result
from .retry import policy_from_json
from .sender import CONNECT_TIMEOUT_S, TOTAL_TIMEOUT_S, Sender, Target
from .ssrf import GuardedConnector, TargetPolicy, is_forbidden_target

log = logging.getLogger("rampwire.worker")

DEFAULT_CONCURRENCY = 512  # sends in flight per worker process
CLAIM_BATCH = 500  # deliveries claimed per query, at most
LEASE = timedelta(seconds=60)  # a claimed delivery is someone else's again after this
POLL_INTERVAL_S = 0.5  # fallback when no wake-up arrives (due retries, other processes)
RECORD_BATCH = 500  # results written per transaction, at most
ENDPOINT_CACHE_S = 2.0  # how long an endpoint's settings are reused
SHUTDOWN_TIMEOUT_S = 20.0
DISABLE_AFTER = timedelta(days=5)  # no success for this long disables an endpoint
NOTIFY_CHANNEL = "rampwire_deliveries"
_SLOT_WAIT_S = LEASE.total_seconds() - TOTAL_TIMEOUT_S - 10  # then give the lease back


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    concurrency: int = DEFAULT_CONCURRENCY
    disable_after: timedelta = DISABLE_AFTER
    poll_interval_s: float = POLL_INTERVAL_S
    lease: timedelta = LEASE
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    total_timeout_s: float = TOTAL_TIMEOUT_S


class Worker:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        policy: TargetPolicy,
        options: WorkerOptions | None = None,
    ) -> None:
        self._db = db
        self._options = options or WorkerOptions()
        self._deliveries = DeliveryRepository(db)
        self._endpoints = EndpointRepository(db, box)
        self._signing_keys = SigningKeyRepository(db, box)
        self._wake = asyncio.Event()
        self._capacity = asyncio.Event()
        self._results: asyncio.Queue[Result] = asyncio.Queue()
        self._outstanding: set[asyncio.Task[None]] = set()
        self._targets: dict[str, tuple[float, Target | str | None]] = {}
        self._limiters: dict[str, EndpointLimiter] = {}
        self._policy = policy
        self._token_prefix = new_id("lease")
        self._claims = 0
        self.sent = 0  # attempts made, for tests and benchmarks

    def wake(self) -> None:
        """New work was committed: claim now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        connector = GuardedConnector(
            self._policy, limit=self._options.concurrency, ttl_dns_cache=60
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            timeout = aiohttp.ClientTimeout(
                total=self._options.total_timeout_s, connect=self._options.connect_timeout_s
            )
            sender = Sender(session, timeout=timeout, is_forbidden=is_forbidden_target)
            recorder = asyncio.create_task(self._record_loop(), name="rampwire-recorder")
            async with self._db.listen(NOTIFY_CHANNEL, self.wake):
                await self._claim_loop(sender, stop)
                if self._outstanding:
                    _, late = await asyncio.wait(self._outstanding, timeout=SHUTDOWN_TIMEOUT_S)
                    for task in late:
                        task.cancel()
                    await asyncio.gather(*late, return_exceptions=True)
            await self._results.join()
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder

    async def _claim_loop(self, sender: Sender, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait(), name="rampwire-stop")
        try:
            while not stop.is_set():
                free = self._options.concurrency - len(self._outstanding)
                if free <= 0:
                    self._capacity.clear()
                    await _first(stopping, self._capacity.wait())
                    continue
                self._wake.clear()
                wanted = min(free, CLAIM_BATCH)
                try:
                    claimed = await self._claim(wanted)
                except StorageError:
                    log.exception("claiming deliveries failed; retrying")
                    claimed = []
                for item in claimed:
                    task = asyncio.create_task(self._deliver(sender, item))
                    self._outstanding.add(task)
                    task.add_done_callback(self._done)
                if len(claimed) < wanted:
                    poll = self._options.poll_interval_s
                    await _first(stopping, self._wake.wait(), timeout=poll)
        finally:
            stopping.cancel()

    async def _claim(self, limit: int) -> list[Claimed]:
        self._claims += 1
        return await self._deliveries.claim(
            limit=limit,
            lease=self._options.lease,
            token=f"{self._token_prefix}.{self._claims}",
            now=utcnow(),
        )

    def _done(self, task: asyncio.Task[None]) -> None:
        self._outstanding.discard(task)
        self._capacity.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a send task failed", exc_info=task.exception())

    async def _deliver(self, sender: Sender, claimed: Claimed) -> None:
        target = await self._target(claimed.endpoint_id)
        if isinstance(target, str) or target is None:
            reason = target or "endpoint disabled"
            await self._deliveries.cancel_claimed([claimed], reason=reason, now=utcnow())
            return
        limiter = self._limiter(claimed.endpoint_id, target)
        try:
            await asyncio.wait_for(limiter.acquire(), timeout=_SLOT_WAIT_S)
        except TimeoutError:
            await self._deliveries.release([claimed], now=utcnow())
            return
        try:
            result = await sender.attempt(claimed, target)
        finally:
            limiter.release()
        self.sent += 1
        await self._results.put(result)

    async def _target(self, endpoint_id: str) -> Target | str | None:
        """The endpoint's send settings; None when it is gone or disabled, a reason when its
        credentials are unusable."""
        cached = self._targets.get(endpoint_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        target: Target | str | None = None
        try:
            endpoint = await self._endpoints.get(endpoint_id)
        except NotFound:
            endpoint = None
        if endpoint is not None and endpoint.enabled:
            try:
                target = await self._build(endpoint)
            except DialectError as exc:
                log.error("endpoint %s: unusable credentials: %s", endpoint_id, exc)
                target = f"endpoint credentials unusable: {exc}"
        self._targets[endpoint_id] = (now + ENDPOINT_CACHE_S, target)
        return target

    async def _build(self, endpoint: Endpoint) -> Target:
        dialect = get_dialect(endpoint.dialect)
        policy = dialect.policy
        if endpoint.retry_policy is not None:
            policy = policy_from_json(endpoint.retry_policy)
        credentials: object
        if dialect.name in KEY_SIGNED:
            key = await self._signing_keys.current(now=utcnow())
            credentials = FireblocksCredentials(signing_key=key)
        else:
            secrets = [s.reveal() for s in endpoint.signing_secrets(utcnow())]
            credentials = dialect.credentials_from_secrets(secrets)
        return Target(
            endpoint_id=endpoint.id,
            url=endpoint.url,
            dialect=dialect,
            credentials=credentials,
            headers=dict(endpoint.headers),
            policy=policy,
            max_in_flight=endpoint.max_in_flight,
            rate_limit=endpoint.rate_limit,
        )

    def _limiter(self, endpoint_id: str, target: Target) -> EndpointLimiter:
        found = self._limiters.get(endpoint_id)
        if found is None or not found.same_settings(target.max_in_flight, target.rate_limit):
            found = self._limiters[endpoint_id] = EndpointLimiter(
                max_in_flight=target.max_in_flight, rate=target.rate_limit
            )
        return found

    async def _record_loop(self) -> None:
        while True:
            batch = [await self._results.get()]
            while len(batch) < RECORD_BATCH and not self._results.empty():
                batch.append(self._results.get_nowait())
            try:
                published = await self._record(batch)
            except Exception:  # the loop must outlive any one batch; leases expire and retry
                log.exception("recording %d results failed", len(batch))
                published = 0
            finally:
                for _ in batch:
                    self._results.task_done()
            if published:
                self.wake()

    async def _record(self, batch: list[Result]) -> int:
        for delay in (0.1, 0.5, 2.0, None):
            try:
                events = await self._deliveries.record(
                    batch, now=utcnow(), disable_after=self._options.disable_after
                )
            except StorageError:
                if delay is None:
                    log.exception("could not record %d results; they will be retried", len(batch))
                    return 0
                await asyncio.sleep(delay)
                continue
            for event in events:
                log.warning("endpoint disabled: %s", event.payload.decode())
            for result in batch:
                if result.disable_endpoint:
                    self._targets.pop(result.claimed.endpoint_id, None)
            return len(events)
        return 0


async def _first(
    stopping: asyncio.Task[bool], waiting: Coroutine[Any, Any, Any], timeout: float | None = None
) -> None:
    """Wait for ``waiting``, the stop signal, or the timeout, whichever comes first."""
    task = asyncio.ensure_future(waiting)
    try:
        await asyncio.wait({task, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
