"""The worker: claims due deliveries under a lease, sends them concurrently, records results in
batches, and wakes on new work without a polling delay.

Side tasks, run together: the *claimer* (claims up to the free capacity plus a claim-ahead
reserve, :data:`CLAIM_AHEAD`), the *recorder* (writes attempt results in batches), the *renewer*
(extends the leases of what this worker holds every third of a lease, so leases are short and a
dead worker's deliveries move on in seconds), and on PostgreSQL the *listener* (``LISTEN
rampwire_deliveries``, re-opened whenever it is lost). In-process publishers call
:meth:`Worker.wake`. Claimed deliveries wait in one queue per endpoint
(:class:`~rampwire.delivery.scheduler.Scheduler`): a send starts for an endpoint with a free
in-flight slot, endpoints taking turns, so a slow or hanging endpoint occupies only its own slots.
A finished send starts the next one at once, and the claimer tops the reserve up in the
background, so the slots do not idle while a claim is in flight.

A database that cannot be reached does not stop the worker: claims, records and renewals wait
and try again with backoff (logged once per outage), and :meth:`Worker.health` says what fails.

On stop, the claimer stops, deliveries still in the reserve are given back (due again at once),
sends in flight get :data:`SHUTDOWN_TIMEOUT_S` to finish, and the recorder writes what is left; a
delivery whose result was not written is sent again once its lease expires (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from .. import logs
from ..crypto import SecretBox
from ..delivery.limits import EndpointLimiter
from ..delivery.scheduler import Lane, Scheduler
from ..delivery.sender import CONNECT_TIMEOUT_S, TOTAL_TIMEOUT_S, Sender, Target
from ..domain.deliveries import BODY_CAP_BYTES, Claimed, Result
from ..errors import StorageError
from ..ids import new_id
from ..metrics import Metrics
from ..repository.deliveries import DeliveryRepository
from ..repository.outbox import NOTIFY_CHANNEL
from ..ssrf import TargetPolicy, WireClient
from ..storage import Database
from ..storage.database import Listening
from ..tracing import Tracing
from ..types import utcnow
from . import telemetry
from .backoff import Backoff
from .targets import Targets

log = logging.getLogger("rampwire.worker")

DEFAULT_CONCURRENCY = 512  # sends in flight per worker process
CLAIM_BATCH = 500  # deliveries claimed per query, at most
CLAIM_AHEAD = 1.0  # deliveries claimed beyond the free slots, as a share of the concurrency
CLAIM_SPACING_S = 0.003  # claims start at least this far apart: wake-ups in between coalesce
LEASE = timedelta(seconds=10)  # a claimed delivery not renewed is someone else's after this
RENEWALS_PER_LEASE = 3  # held leases are extended this many times per lease
POLL_INTERVAL_S = 0.5  # fallback when no wake-up arrives (due retries, other processes)
RECORD_BATCH = 500  # results written per transaction, at most
RECORD_LINGER_S = 0.005  # a lone result waits this long for others to share its transaction
SHUTDOWN_TIMEOUT_S = 20.0
DISABLE_AFTER = timedelta(days=5)  # no success for this long disables an endpoint


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
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._db = db
        self._metrics = metrics or Metrics(enabled=False)
        self._tracing = tracing or Tracing()
        self._options = options or WorkerOptions()
        self._deliveries = DeliveryRepository(db)
        self._targets = Targets(db, box)  # each endpoint's send settings, cached
        self._wake = asyncio.Event()
        self._capacity = asyncio.Event()
        self._results: asyncio.Queue[Result] = asyncio.Queue()
        self._outstanding: set[asyncio.Task[None]] = set()
        concurrency = self._options.concurrency
        self._ahead = min(CLAIM_BATCH, max(1, int(concurrency * CLAIM_AHEAD)))
        self._claim_at_least = max(1, self._ahead // 2)  # while busy: no tiny claims
        # claimed, not started yet, one queue (and limiter) per endpoint
        self._scheduler = Scheduler(limit=concurrency + self._ahead)
        self._cut_short: set[str] = set()  # endpoints whose share cut the last claim short
        self._held: dict[str, Claimed] = {}  # claimed and not yet recorded: leases to renew
        self._sender: Sender | None = None  # while running
        self._policy = policy
        self._token_prefix = new_id("lease")
        self._claiming = Backoff("claiming deliveries")
        self._recording = Backoff("recording delivery results")
        self._renewing = Backoff("renewing leases")
        self._listening: Listening | None = None
        self.claims = 0  # claim queries made, for tests and benchmarks
        self.record_batches = 0  # record transactions attempted, for tests and benchmarks
        self.sent = 0  # attempts made, for tests and benchmarks

    def wake(self) -> None:
        """New work was committed: claim now instead of at the next poll."""
        self._wake.set()

    def health(self) -> dict[str, str]:
        """What works and what fails, for readiness: ``"ok"`` or why not."""
        checks = {
            "claims": self._claiming.error,
            "records": self._recording.error,
            "leases": self._renewing.error,
        }
        listening = self._listening
        if listening is None:  # not running yet (or any more): nothing heard
            checks["notifications"] = "not listening"
        elif not listening.connected:
            checks["notifications"] = listening.error or "connecting"
        return {name: "ok" if error is None else error for name, error in checks.items()}

    async def run(self, stop: asyncio.Event) -> None:
        async with WireClient(
            self._policy,
            connect_timeout=self._options.connect_timeout_s,
            total_timeout=self._options.total_timeout_s,
            body_cap=BODY_CAP_BYTES,
        ) as client:
            self._sender = Sender(client)
            side = [
                asyncio.create_task(self._record_loop(), name="rampwire-recorder"),
                asyncio.create_task(self._renew_loop(), name="rampwire-renewer"),
            ]
            try:
                async with self._db.listen(NOTIFY_CHANNEL, self.wake) as listening:
                    self._listening = listening
                    await self._claim_loop(stop)
                    self._sender = None  # no more sends start, not even from the reserve
                    await self._give_back()
                    if self._outstanding:
                        _, late = await asyncio.wait(self._outstanding, timeout=SHUTDOWN_TIMEOUT_S)
                        for task in late:
                            task.cancel()
                        await asyncio.gather(*late, return_exceptions=True)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                        await self._results.join()
            finally:
                self._sender = None
                self._listening = None
                for task in [*side, *self._outstanding]:
                    task.cancel()
                await asyncio.gather(*side, *self._outstanding, return_exceptions=True)
                # A run that failed leaves its leases to expire: another run claims them again.
                self._scheduler.reset()
                self._held.clear()
                self._targets.close()

    def _room(self) -> int:
        """How many more deliveries may be claimed: free slots plus the reserve's free places.
        Deliveries queued for endpoints with no free slot do not count: claims skip those
        endpoints (:meth:`Scheduler.rooms`), and they must not hold the others up."""
        return (
            self._options.concurrency
            + self._ahead
            - len(self._outstanding)
            - self._scheduler.startable()
        )

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        watcher = asyncio.create_task(self._watch(stop), name="rampwire-stop")
        loop = asyncio.get_running_loop()
        claimed_at = -CLAIM_SPACING_S
        try:
            while not stop.is_set():
                room = self._room()
                if room < self._claim_at_least and self._scheduler.queued:
                    # Busy: the reserve keeps the slots full; claim once a batch is worth it.
                    self._capacity.clear()
                    await self._capacity.wait()
                    continue
                # Woken again right after a claim: let a few more events arrive, claim them all.
                if (gap := claimed_at + CLAIM_SPACING_S - loop.time()) > 0:
                    await asyncio.sleep(gap)
                self._wake.clear()
                wanted = max(1, min(room, CLAIM_BATCH))
                claimed_at = loop.time()
                wait = self._options.poll_interval_s
                try:
                    claimed = await self._claim(wanted)
                except StorageError as exc:
                    wait = self._claiming.failed(exc)
                    claimed = []
                else:
                    self._claiming.succeeded()
                for item in claimed:
                    self._held[item.id] = item
                # the claim's endpoints not cached or changed, read together before their sends
                self._targets.prefetch(
                    {item.endpoint_id: item.endpoint_version for item in claimed}
                )
                self._scheduler.push(claimed)
                self._start()
                if len(claimed) < wanted:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
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
        rooms = self._scheduler.rooms()
        claimed = await self._deliveries.claim(
            limit=limit,
            lease=self._options.lease,
            token=f"{self._token_prefix}.{self.claims}",
            now=utcnow(),
            full=rooms.full,
            rooms=rooms.rooms,
            default_room=rooms.default,
        )
        # An endpoint that took its whole room may have more due: nothing will publish to wake
        # the claimer (a backlog draining), so its own sends do, once half its share is free.
        counts = Counter(item.endpoint_id for item in claimed)
        self._cut_short = {
            endpoint_id
            for endpoint_id, count in counts.items()
            if count >= rooms.rooms.get(endpoint_id, rooms.default)
        }
        return claimed

    def _start(self) -> None:
        """Start sends while slots are free, endpoints taking turns."""
        sender = self._sender
        if sender is None:
            return
        concurrency = self._options.concurrency
        while len(self._outstanding) < concurrency:
            picked = self._scheduler.next()
            if picked is None:
                return
            task = asyncio.create_task(self._deliver(sender, *picked))
            self._outstanding.add(task)
            task.add_done_callback(self._done)

    async def _give_back(self) -> None:
        """Stopping: the reserve's deliveries are due again at once, for any worker."""
        claimed = self._scheduler.drain()
        if not claimed:
            return
        try:
            await self._deliveries.release(claimed, now=utcnow())
        except StorageError:
            log.exception("giving back %d leases failed; they expire", len(claimed))
        for item in claimed:
            self._held.pop(item.id, None)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._outstanding.discard(task)
        self._start()
        if self._room() >= self._claim_at_least or not self._scheduler.queued:
            self._capacity.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a send task failed", exc_info=task.exception())

    async def _deliver(self, sender: Sender, lane: Lane, claimed: Claimed) -> None:
        # its own task: the ids stay on this send's log lines only
        logs.tag(
            delivery_id=claimed.id,
            endpoint_id=claimed.endpoint_id,
            event_id=claimed.event_id,
            order_id=claimed.order_id,
            partner_id=claimed.partner_id,
        )
        try:
            result = await self._attempt(sender, lane, claimed)
        except StorageError as exc:
            # Its lease expires and the delivery is claimed again; nothing was sent.
            log.warning("delivery %s not sent: %s", claimed.id, exc)
            result = None
        finally:
            self._scheduler.finished(lane)
            self._claim_again(lane)
        if result is None:
            self._held.pop(claimed.id, None)
        else:
            self.sent += 1
            self._results.put_nowait(result)  # unbounded: never waits

    def _claim_again(self, lane: Lane) -> None:
        """The last claim was cut short by this endpoint's share: claim again once half of it
        is free, rather than at the next poll."""
        if lane.endpoint_id in self._cut_short and 2 * lane.room >= lane.cap:
            self._cut_short.discard(lane.endpoint_id)
            self._wake.set()

    async def _attempt(self, sender: Sender, lane: Lane, claimed: Claimed) -> Result | None:
        target = await self._targets.get(claimed.endpoint_id, claimed.endpoint_version)
        if isinstance(target, str) or target is None:
            reason = target or "endpoint disabled"
            await self._deliveries.cancel_claimed([claimed], reason=reason, now=utcnow())
            return None
        if lane.slots != target.max_in_flight:
            self._scheduler.set_slots(lane, target.max_in_flight)
        if target.rate_limit is None and lane.limiter is None and lane.active <= lane.slots:
            # No limiter needed: every send past this point is counted in lane.active until
            # it finishes, and the scheduler starts one only while active < slots, so at most
            # max_in_flight are sending. A limiter is made only when sends started under a
            # larger in-flight limit (the default, before the settings were read, or settings
            # that shrank) outnumber it, or for a rate limit: not one object per endpoint.
            limiter = None
        else:
            limiter = self._limiter(lane, target)
            if not limiter.try_acquire():
                await limiter.acquire()  # a rate limit, or more sends than the settings allow
        try:
            if self._tracing.enabled:
                result = await self._traced(sender, claimed, target)
            else:  # no span's context to enter, nor attributes to build
                result = await sender.attempt(claimed, target)
        finally:
            if limiter is not None:
                limiter.release()
        telemetry.attempted(self._metrics, result, dialect=target.dialect.name)
        return result

    async def _traced(self, sender: Sender, claimed: Claimed, target: Target) -> Result:
        with self._tracing.attempt(
            claimed.event_id,
            claimed.trace_context,
            traceparent=target.traceparent,
            delivery_id=claimed.id,
            endpoint_id=claimed.endpoint_id,
        ) as traced:
            result = await sender.attempt(claimed, target, traced)
            self._tracing.note(status=result.status.value, attempt=result.attempt.attempt)
        return result

    async def _renew_loop(self) -> None:
        """Every third of a lease: extend the leases of what this worker holds. A delivery whose
        lease was lost meanwhile (expired during an outage and claimed again, or replayed) is
        dropped from the queues unsent."""
        lease = self._options.lease
        every = lease.total_seconds() / RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(every)
            held = list(self._held.values())
            try:
                renewed = await self._deliveries.renew(held, until=utcnow() + lease)
            except StorageError as exc:
                await asyncio.sleep(max(0.0, self._renewing.failed(exc) - every))
                continue
            self._renewing.succeeded()
            lost = {c.id for c in held if c.id not in renewed and c.id in self._held}
            if lost:
                dropped = self._scheduler.remove(lost)
                for item in dropped:
                    self._held.pop(item.id, None)
                log.info("%d leases lost; %d queued deliveries dropped", len(lost), len(dropped))

    def forget(self, endpoint_id: str) -> None:
        """The endpoint changed (its secret rotated, its settings edited) through this process:
        read it again for the next send, even one claimed before the change (every process
        reads it again for the deliveries it claims after the change)."""
        self._targets.forget(endpoint_id)

    def _limiter(self, lane: Lane, target: Target) -> EndpointLimiter:
        """The lane's limiter for the target's settings (kept, and forgotten, with the lane),
        the lane's slots made the target's."""
        if lane.slots != target.max_in_flight:
            self._scheduler.set_slots(lane, target.max_in_flight)
        found = lane.limiter
        if found is None or not found.same_settings(target.max_in_flight, target.rate_limit):
            found = lane.limiter = EndpointLimiter(
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
            try:
                published = await self._record(batch)
            except Exception:  # the loop must outlive any one batch; leases expire and retry
                log.exception("recording %d results failed", len(batch))
                published = 0
            finally:
                for result in batch:
                    self._held.pop(result.claimed.id, None)
                    self._results.task_done()
            if published:
                self.wake()

    async def _record(self, batch: list[Result]) -> int:
        """Write the batch, trying again while the database is unavailable: the leases are
        renewed meanwhile, and a result whose lease was lost is fenced off by its token."""
        while True:
            self.record_batches += 1
            started = time.perf_counter()
            try:
                events = await self._deliveries.record(
                    batch, now=utcnow(), disable_after=self._options.disable_after
                )
            except StorageError as exc:
                await asyncio.sleep(self._recording.failed(exc))
                continue
            self._recording.succeeded()
            telemetry.recorded(self._metrics, batch, events, seconds=time.perf_counter() - started)
            for result in batch:
                if result.disable_endpoint:
                    self._targets.forget(result.claimed.endpoint_id)
            return len(events)
