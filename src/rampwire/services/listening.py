"""A listen session's stream (``GET /v1/listen-sessions/{id}/stream``): the events of the log
after the session's cursor, each rendered and signed exactly as a delivery in the session's
dialect would be, as server-sent events.

Reading the log, not deliveries: a session makes no rows per event, so one that stops being
read holds nothing back; its cursor stays where its last stream left it until it expires.

Event ids are ULIDs made before their transaction commits, so an event may become visible after
one with a greater id (two writers, one slower to commit). A stream therefore looks back
:data:`LATE_COMMIT` behind its cursor on every poll, by the primary key's index alone, and sends
what it had not seen there; a new stream (a reconnect) sends that window again, so the promise
is at least once, as for deliveries, and ``rampwire listen`` drops the repeats by event id.

Streams poll every :data:`POLL_S` (the worker's fallback interval; the notifications a worker
hears are for deliveries, which a listened-to event may not have), and end after
:data:`STREAM_S` so that a server can stop: the client reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..delivery.endpoints import matches
from ..delivery.sender import USER_AGENT, prepare
from ..dialects import Dialect, get_dialect
from ..dialects.errors import DialectError
from ..ids import ULID_LENGTH, ulid
from ..repository.listen_sessions import ListenSession, ListenSessionRepository, LoggedEvent
from ..repository.signing_keys import SigningKeyRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..types import utcnow
from . import signing

POLL_S = 0.5  # how often an open stream reads the log
LATE_COMMIT = timedelta(seconds=5)  # an event may commit this long after its id was made
STREAM_S = 15.0  # then the stream ends and the client reconnects (a server can stop meanwhile)
HEARTBEAT_S = 10.0  # an SSE comment this often keeps proxies from closing a quiet stream
BATCH = 200  # events read per query
RECONNECT_MS = 1000


def id_floor(prefix: str, at: datetime) -> str:
    """The smallest id ``prefix`` can have at ``at``: ids above it were made after."""
    return f"{prefix}_{ulid(int(at.timestamp() * 1000))[:10]}{'0' * (ULID_LENGTH - 10)}"


class Tail:
    """One stream's position in the log: a cursor, and the ids seen in the window of
    :data:`LATE_COMMIT` behind the newest, where a late commit may still appear."""

    def __init__(self, repo: ListenSessionRepository, session: ListenSession, after: str) -> None:
        self._repo = repo
        self._partner = session.partner_id
        self._start = session.created_at
        self.cursor = after
        self._seen: set[str] = set()
        self._first = True

    async def read(self, now: datetime) -> tuple[list[LoggedEvent], bool]:
        """The events not yet seen, in id order; True when there may be more right away."""
        floor = max(id_floor("evt", now - LATE_COMMIT), id_floor("evt", self._start))
        found: list[LoggedEvent] = []
        if self.cursor > floor:  # late commits below the cursor, and, on a reconnect, the
            ids = await self._repo.event_ids_between(floor, self.cursor)  # window again
            late = [i for i in ids if i not in self._seen]
            if self._first:
                late = ids
            found += await self._repo.events_in(late, self._partner)
        self._first = False
        new = await self._repo.events_after(self.cursor, self._partner, limit=BATCH)
        found += new
        for event in found:
            self._seen.add(event.id)
        if new:
            self.cursor = new[-1].id
        self._seen = {i for i in self._seen if i > floor}
        return found, len(new) == BATCH


@dataclass(frozen=True, slots=True)
class Signer:
    """What a session's events are signed with: its dialect and credentials."""

    dialect: Dialect[Any]
    credentials: Any

    @classmethod
    async def of(
        cls,
        session: ListenSession,
        signing_keys: SigningKeyRepository,
        webhook_keys: WebhookKeyRepository,
    ) -> Signer:
        dialect = get_dialect(session.dialect)
        secrets = () if session.secret is None else (session.secret,)
        keys = signing.OwnKeys(signing_keys, webhook_keys, now=utcnow())
        credentials = await signing.credentials(dialect, secrets, keys=keys)
        return cls(dialect, credentials)


def message(event: LoggedEvent, signer: Signer, *, now: datetime) -> bytes:
    """One SSE message, ``id:`` the event id. ``event: webhook``: as data, the request a
    delivery would send (``headers``, ``body`` as text, or ``body_base64`` if it is not UTF-8)
    with the event's type, order and status. ``event: skipped``: the dialect cannot carry this
    event (a delivery of it would be dead at once, ``unencodable``), with the ``reason``."""
    assert event.payload is not None
    envelope = orjson.loads(event.payload)
    order = (envelope.get("data") or {}).get("order") or {}
    data: dict[str, Any] = {
        "event_id": event.id,
        "type": event.type,
        "order_id": event.order_id,
        "status": order.get("status"),
    }
    kind = b"webhook"
    try:
        wire = prepare(event.id, event.payload, signer.dialect, signer.credentials, now=now)
    except DialectError as exc:
        data["reason"] = f"{signer.dialect.name.value}: {exc}"
        return (
            b"id: " + event.id.encode() + b"\nevent: skipped\ndata: " + orjson.dumps(data) + b"\n\n"
        )
    data["headers"] = {**wire.headers, "user-agent": USER_AGENT}
    try:
        data["body"] = wire.body.decode("utf-8")
    except UnicodeDecodeError:
        data["body_base64"] = base64.b64encode(wire.body).decode("ascii")
    return (
        b"id: "
        + event.id.encode()
        + b"\nevent: "
        + kind
        + b"\ndata: "
        + orjson.dumps(data)
        + b"\n\n"
    )


async def stream(
    session: ListenSession,
    repo: ListenSessionRepository,
    signer: Signer,
    *,
    after: str,
    idle: timedelta,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The session's events after ``after`` as SSE, for :data:`STREAM_S`; the session is kept
    alive (and its cursor moved) every third of ``idle`` while the stream is open. Ends at
    once, with an ``event: closed``, when the session is deleted."""
    tail = Tail(repo, session, after)
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    clock = time.monotonic()
    touched = beat = clock
    touch_every = min(idle.total_seconds() / 3, 5.0)
    while (now_s := time.monotonic()) - clock < STREAM_S:
        if await disconnected():
            break
        now = utcnow()
        events, more = await tail.read(now)
        for event in events:
            if event.payload is None or not matches(session.event_types, event.type):
                continue
            yield message(event, signer, now=now)
            beat = now_s
        if now_s - touched >= touch_every:
            if not await repo.touch(session.id, after_id=tail.cursor, now=now):
                yield b"event: closed\ndata: {}\n\n"
                return
            touched = now_s
        if now_s - beat >= HEARTBEAT_S:
            yield b": keep-alive\n\n"
            beat = now_s
        if not more:
            await asyncio.sleep(POLL_S)
    # where this stream got to, for a client that comes back without a Last-Event-ID
    await repo.touch(session.id, after_id=tail.cursor, now=utcnow())
