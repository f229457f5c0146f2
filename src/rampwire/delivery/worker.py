"""The worker: claims due deliveries under a lease, sends them concurrently, records results in
batches, and wakes on new work without a polling delay.

Side tasks, supervised together: the *claimer* (claims up to the free capacity plus a claim-ahead
reserve, :data:`CLAIM_AHEAD`), the *recorder* (writes attempt results in batches), and on
PostgreSQL the *listener* (``LISTEN rampwire_deliveries``). In-process publishers call
:meth:`Worker.wake`. A send task starts for each claimed delivery as soon as a slot is free: a
finished send starts the next one from the reserve at once, and the claimer tops the reserve up
in the background, so the slots do not idle while a claim is in flight.

On stop, the claimer stops, deliveries still in the reserve are given back (due again at once),
sends in flight get :data:`SHUTDOWN_TIMEOUT_S` to finish, and the recorder writes what is left; a
delivery whose result was not written is sent again once its lease expires (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from ..cache import Loaded
from ..crypto import SecretBox
from ..dialects import FireblocksCredentials, get_dialect
from ..dialects.base import DialectError
from ..endpoints import KEY_SIGNED, Endpoint
from ..errors import NotFound, StorageError
from ..ids import new_id
from ..repository.deliveries import NOTIFY_CHANNEL, DeliveryRepository
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
CLAIM_AHEAD = 1.0  # deliveries claimed beyond the free slots, as a share of the concurrency
CLAIM_SPACING_S = 0.003  # claims start at least this far apart: wake-ups in between coalesce
LEASE = timedelta(seconds=60)  # a claimed delivery is someone else's again after this
POLL_INTERVAL_S = 0.5  # fallback when no wake-up arrives (due retries, other processes)
RECORD_BATCH = 500  # results written per transaction, at most
RECORD_LINGER_S = 0.005  # a lone result waits this long for others to share its transaction
ENDPOINT_CACHE_S = 2.0  # how long an endpoint's settings are reused
ENDPOINT_REFRESH_S = 0.5  # an entry this close to expiry is reloaded in the background
SHUTDOWN_TIMEOUT_S = 20.0
DISABLE_AFTER = timedelta(days=5)  # no success for this long disables an endpoint
_SLOT_WAIT_S = LEASE.total_seconds() - TOTAL_TIMEOUT_S - 10  # after the claim: give it back


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
        # claimed, not started yet: (delivery, loop time of its claim)
        self._reserve: deque[tuple[Claimed, float]] = deque()
        concurrency = self._options.concurrency
        self._ahead = min(CLAIM_BATCH, max(1, int(concurrency * CLAIM_AHEAD)))
        self._claim_at_least = max(1, self._ahead // 2)  # while busy: no tiny claims
        self._sender: Sender | None = None  # while running
        self._targets: Loaded[str, Target | str | None] = Loaded(
            self._lookup,
            ttl_s=ENDPOINT_CACHE_S,
            refresh_s=ENDPOINT_REFRESH_S,
            name="endpoint",
            log=log,
        )
        self._limiters: dict[str, EndpointLimiter] = {}
        self._policy = policy
        self._token_prefix = new_id("lease")
        self.claims = 0  # claim queries made, for tests and benchmarks
        self.record_batches = 0  # record transactions attempted, for tests and benchmarks
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
            self._sender = Sender(session, timeout=timeout, is_forbidden=is_forbidden_target)
            recorder = asyncio.create_task(self._record_loop(), name="rampwire-recorder")
            try:
                async with self._db.listen(NOTIFY_CHANNEL, self.wake):
                    await self._claim_loop(stop)
                    self._sender = None  # no more sends start, not even from the reserve
                    await self._give_back()
                    if self._outstanding:
                        _, late = await asyncio.wait(self._outstanding, timeout=SHUTDOWN_TIMEOUT_S)
                        for task in late:
                            task.cancel()
                        await asyncio.gather(*late, return_exceptions=True)
                await self._results.join()
            finally:
                self._sender = None
                recorder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recorder
                self._targets.close()

    def _room(self) -> int:
        """How many more deliveries may be claimed: free slots plus the reserve's free places."""
        return self._options.concurrency + self._ahead - len(self._outstanding) - len(self._reserve)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        watcher = asyncio.create_task(self._watch(stop), name="rampwire-stop")
        loop = asyncio.get_running_loop()
        claimed_at = -CLAIM_SPACING_S
        try:
            while not stop.is_set():
                room = self._room()
                if room < self._claim_at_least and self._reserve:
                    # Busy: the reserve keeps the slots full; claim once a batch is worth it.
                    self._capacity.clear()
                    await self._capacity.wait()
                    continue
                # Woken again right after a claim: let a few more events arrive, claim them all.
                if (gap := claimed_at + CLAIM_SPACING_S - loop.time()) > 0:
                    await asyncio.sleep(gap)
                self._wake.clear()
                wanted = min(room, CLAIM_BATCH)  # >= 1: with an empty reserve, room >= _ahead
                claimed_at = loop.time()
                try:
                    claimed = await self._claim(wanted)
                except StorageError:
                    log.exception("claiming deliveries failed; retrying")
                    claimed = []
                self._reserve.extend((item, claimed_at) for item in claimed)
                self._start()
                if len(claimed) < wanted:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._options.poll_interval_s):
                            await self._wake.wait()
        finally:
            watcher.cancel()

    async def _watch(self, stop: asyncio.Event) -> None:
        """Stop: wake the claimer wherever it waits."""
        await stop.wait()
        self._wake.set()
        self._capacity.set()

    async def _claim(self, limit: int) -> list[Claimed]:
        self.claims += 1
        return await self._deliveries.claim(
            limit=limit,
            lease=self._options.lease,
            token=f"{self._token_prefix}.{self.claims}",
            now=utcnow(),
        )

    def _start(self) -> None:
        """Start sends from the reserve while slots are free."""
        sender = self._sender
        if sender is None:
            return
        concurrency = self._options.concurrency
        while self._reserve and len(self._outstanding) < concurrency:
            claimed, at = self._reserve.popleft()
            task = asyncio.create_task(self._deliver(sender, claimed, at))
            self._outstanding.add(task)
            task.add_done_callback(self._done)

    async def _give_back(self) -> None:
        """Stopping: the reserve's deliveries are due again at once, for any worker."""
        if not self._reserve:
            return
        claimed = [item for item, _ in self._reserve]
        self._reserve.clear()
        try:
            await self._deliveries.release(claimed, now=utcnow())
        except StorageError:
            log.exception("giving back %d leases failed; they expire", len(claimed))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._outstanding.discard(task)
        self._start()
        if self._room() >= self._claim_at_least or not self._reserve:
            self._capacity.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a send task failed", exc_info=task.exception())

    async def _deliver(self, sender: Sender, claimed: Claimed, claimed_at: float) -> None:
        target = await self._target(claimed.endpoint_id)
        if isinstance(target, str) or target is None:
            reason = target or "endpoint disabled"
            await self._deliveries.cancel_claimed([claimed], reason=reason, now=utcnow())
            return
        limiter = self._limiter(claimed.endpoint_id, target)
        deadline = claimed_at + _SLOT_WAIT_S  # from the claim: the send still ends in the lease
        acquired = asyncio.get_running_loop().time() < deadline and limiter.try_acquire()
        if not acquired:
            try:
                async with asyncio.timeout_at(deadline):
                    await limiter.acquire()
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
        credentials are unusable. Cached for :data:`ENDPOINT_CACHE_S`, one lookup per endpoint
        at a time, reloaded in the background before it expires (:class:`~rampwire.cache.Loaded`).
        """
        return await self._targets.get(endpoint_id)

    def _forget(self, endpoint_id: str) -> None:
        """Drop the cached settings, and keep a lookup in progress from caching its answer."""
        self._targets.forget(endpoint_id)

    async def _lookup(self, endpoint_id: str) -> Target | str | None:
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
        return target

    async def _build(self, endpoint: Endpoint) -> Target:
        dialect = get_dialect(endpoint.dialect)
        policy = dialect.policy
        if endpoint.retry_policy is not None:
            policy = policy_from_json(endpoint.retry_policy, base=dialect.policy)
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
            if self._results.empty():  # a lone result: give others a moment to join it
                await asyncio.sleep(RECORD_LINGER_S)
            while len(batch) < RECORD_BATCH and not self._results.empty():
                batch.append(self._results.get_nowait())
            self.record_batches += 1
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
                    self._forget(result.claimed.endpoint_id)
            return len(events)
        return 0
