"""The worker's endpoint cache: each endpoint's send settings (a
:class:`~rampwire.delivery.sender.Target`: URL, dialect, decrypted credentials, headers, policy,
limits), kept while the endpoint's row is unchanged, one entry per endpoint.

Every claimed delivery carries its endpoint's version, the ``updated_at`` the claim read
(:attr:`~rampwire.domain.deliveries.Claimed.endpoint_version`), which every change of the
endpoint's settings, secrets or state moves. What was built of that version is used as it is, so
a worker that delivers to thousands of endpoints (many partners, each with its own) reads each
one once rather than once per expiry, and a change is seen by the first delivery claimed after
it committed, in any process (a send that finds a read of its endpoint in progress takes that
read's answer, which may predate the change: the deliveries claimed after it read again). The
endpoints of a claim that are not cached or changed are read in one query before their sends
start (:meth:`Targets.prefetch`); sends that need an endpoint being read wait for that read. An
endpoint read again with an unchanged row is not decoded or decrypted again. Settings that
depend on the time or on rampwire's own keys (an endpoint signed with those keys, or holding a
rotated-out secret) are built again every :data:`ENDPOINT_REBUILD_S`. What is read and kept of
an endpoint is what its sends need (a :class:`~rampwire.delivery.endpoints.StoredTarget`: 12 of
its 21 columns, times as stored).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from ..crypto import SecretBox
from ..delivery.endpoints import KEY_SIGNED, StoredSecret, StoredTarget
from ..delivery.retry import policy_from_json
from ..delivery.sender import Target
from ..dialects import Dialect, get_dialect
from ..dialects.base import DialectName
from ..dialects.errors import DialectError
from ..dialects.standard import hmac_credentials
from ..repository.endpoints import EndpointRepository
from ..repository.signing_keys import SigningKeyRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..storage import Database
from ..storage.database import to_us
from ..types import record_maker, utcnow
from . import signing

log = logging.getLogger("rampwire.worker")

ENDPOINT_REBUILD_S = 2.0  # settings that depend on the time or on rampwire's keys, built again
MAX_TARGETS = 16_384  # endpoints whose settings are kept, at most (the oldest reads go first)

# An endpoint's send settings; None when it is gone or disabled, a reason when its credentials
# are unusable.
Found = Target | str | None
# A read of an endpoint in progress: the futures of the sends waiting for its answer, one each,
# so that a send cancelled meanwhile cancels its own alone and the read goes on for the others.
# The read sets each one's result itself: no done-callback, loop callback and relay call per
# waiting send, where a fresh worker's first send to each endpoint waits for its read.
Waiters = list[asyncio.Future[Found]]


# Not frozen: a frozen dataclass's fields are set one by one through object.__setattr__ (or,
# by record_maker, through their slots' descriptors), where this one's __init__ stores its four
# slots directly, once for every endpoint read. Nothing changes an entry once made.
@dataclasses.dataclass(slots=True)
class _Entry:
    versions: tuple[int, ...]  # the version read, and the claimed one that asked for the read
    stored: StoredTarget
    found: Found
    rebuild_at: float  # monotonic seconds; infinite when nothing in it depends on the time


# made through its slots: one for every endpoint read (of field values in declaration order,
# at about half the keyword constructor's cost)
_target = record_maker(Target)


class Targets:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._endpoints = EndpointRepository(db, box)
        self._signing_keys = SigningKeyRepository(db, box)
        self._webhook_keys = WebhookKeyRepository(db, box)
        self._entries: dict[str, _Entry] = {}  # oldest read first
        self._loading: dict[str, Waiters] = {}  # reads in progress, per endpoint
        self._reads: set[asyncio.Task[None]] = set()
        self._dialects: dict[str, Dialect[Any]] = {}  # by stored name: looked up once each

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, endpoint_id: str, version: int | None) -> Found:
        """The endpoint's settings as of ``version`` (its claim's; None: deleted): cached, or
        read once however many sends ask for it meanwhile."""
        if version is None:
            return None
        entry = self._current(endpoint_id, version)
        if entry is not None:
            return entry.found
        waiters = self._loading.get(endpoint_id)
        if waiters is None:
            waiters = self._read({endpoint_id: version})[endpoint_id]
        waiter: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        return await waiter

    def prefetch(self, versions: Mapping[str, int | None]) -> None:
        """Start reading, in one query, the endpoints of ``versions`` (endpoint id → claimed
        version) that are not cached as of that version and not being read already."""
        entries, loading, now = self._entries, self._loading, time.monotonic()
        stale: dict[str, int] = {}
        for endpoint_id, version in versions.items():  # _current() inlined: once per endpoint
            if version is None or endpoint_id in loading:
                continue
            entry = entries.get(endpoint_id)
            if entry is None or version not in entry.versions or now >= entry.rebuild_at:
                stale[endpoint_id] = version
        if stale:
            self._read(stale)

    def forget(self, endpoint_id: str) -> None:
        """Drop the cached settings, and keep a read in progress from caching its answer."""
        self._entries.pop(endpoint_id, None)
        self._loading.pop(endpoint_id, None)

    def close(self) -> None:
        """Cancel the reads in progress (at shutdown)."""
        for task in self._reads:
            task.cancel()
        for waiters in self._loading.values():
            for waiter in waiters:
                waiter.cancel()
        self._loading.clear()

    def _current(self, endpoint_id: str, version: int) -> _Entry | None:
        entry = self._entries.get(endpoint_id)
        if entry is None or version not in entry.versions:
            return None
        # most entries are rebuilt never (infinite): no clock read for them
        if entry.rebuild_at != math.inf and time.monotonic() >= entry.rebuild_at:
            return None
        return entry

    def _read(self, versions: Mapping[str, int]) -> dict[str, Waiters]:
        reads: dict[str, Waiters] = {endpoint_id: [] for endpoint_id in versions}
        self._loading.update(reads)
        task = asyncio.create_task(self._run(versions, reads), name="rampwire-endpoints")
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)
        return reads

    async def _run(self, versions: Mapping[str, int], reads: dict[str, Waiters]) -> None:
        try:
            entries = await self._lookup(versions)
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            for endpoint_id, waiters in reads.items():
                if self._loading.get(endpoint_id) is waiters:
                    del self._loading[endpoint_id]
                for waiter in waiters:
                    if waiter.done():  # its send was cancelled, or close() cancelled it
                        continue
                    if cancelled:
                        waiter.cancel()
                    else:
                        waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            log.warning("reading %d endpoints failed: %s", len(reads), exc)
            return
        loading, stored = self._loading, self._entries
        for endpoint_id, waiters in reads.items():
            entry = entries.get(endpoint_id)
            if loading.get(endpoint_id) is waiters:  # not forgotten meanwhile
                del loading[endpoint_id]
                if entry is not None:  # _store(), inlined: once per endpoint read
                    stored.pop(endpoint_id, None)
                    stored[endpoint_id] = entry  # last: the most recently read
                    while len(stored) > MAX_TARGETS:
                        del stored[next(iter(stored))]
            if waiters:
                found = None if entry is None else entry.found
                for waiter in waiters:
                    if not waiter.done():  # else its send was cancelled meanwhile
                        waiter.set_result(found)

    async def _lookup(self, versions: Mapping[str, int]) -> dict[str, _Entry]:
        """What is built of each endpoint of ``versions`` (endpoint id → claimed version) that
        exists, as read now: good for the version read and for the claimed one (the read came
        after the claim that saw it)."""
        entries = self._entries
        stored = await self._endpoints.stored_targets(
            list(versions),
            known={i: entries[i].stored for i in versions if i in entries},
        )
        wall = utcnow()  # once a read, not once an endpoint
        wall_us = to_us(wall)
        keys = signing.OwnKeys(self._signing_keys, self._webhook_keys, now=wall)
        now = time.monotonic()
        found: dict[str, _Entry] = {}
        dialects = self._dialects
        for endpoint_id, endpoint in stored.items():
            # signed with rampwire's own keys (they rotate apart from the endpoint)
            own_keys = endpoint.dialect in KEY_SIGNED or "v1a" in endpoint.signatures
            kept = endpoint.secrets
            one_forever = len(kept) == 1 and kept[0][2] is None  # most endpoints
            target: Found = None
            if endpoint.enabled:
                try:
                    # built here, not by an awaited helper: most endpoints await nothing
                    dialect = dialects.get(endpoint.dialect) or self._dialect(endpoint.dialect)
                    policy = dialect.policy
                    if endpoint.retry_policy is not None:
                        policy = policy_from_json(endpoint.retry_policy, base=policy)
                    if one_forever and not own_keys and dialect.name is DialectName.STANDARD:
                        # what signing_secrets() and secret_credentials() make of it, without
                        # their two calls
                        credentials = hmac_credentials((kept[0][0],))
                    else:
                        secrets = endpoint.signing_secrets(wall_us)
                        if own_keys:
                            credentials = await signing.credentials(
                                dialect, secrets, signatures=endpoint.signatures, keys=keys
                            )
                        else:
                            credentials = signing.secret_credentials(dialect, secrets)
                    target = _target(
                        (  # Target's field order: test_worker_targets checks it
                            endpoint_id,
                            endpoint.url,
                            dialect,
                            credentials,
                            endpoint.headers,  # decoded for this read; nothing changes it
                            policy,
                            endpoint.max_in_flight,
                            endpoint.rate_limit,
                            endpoint.traceparent,
                        )
                    )
                except DialectError as exc:
                    log.error("endpoint %s: unusable credentials: %s", endpoint_id, exc)
                    target = f"endpoint credentials unusable: {exc}"
            # what depends on rampwire's keys or on a secret's expiry is built again
            reusable = not own_keys and (one_forever or _expire_never(kept))
            rebuild_at = math.inf if reusable else now + ENDPOINT_REBUILD_S
            read = (endpoint.version, versions[endpoint_id])
            found[endpoint_id] = _Entry(read, endpoint, target, rebuild_at)
        return found

    def _dialect(self, name: str) -> Dialect[Any]:
        """The dialect of a stored name, looked up once per name."""
        dialect = self._dialects[name] = get_dialect(name)
        return dialect


def _expire_never(secrets: tuple[StoredSecret, ...]) -> bool:
    """Whether none of the secrets is rotated out (one that is stops signing when it expires,
    so what was built of it is built again)."""
    for _, _, expires_at in secrets:  # a loop, not all() over a generator: once per read
        if expires_at is not None:
            return False
    return True
