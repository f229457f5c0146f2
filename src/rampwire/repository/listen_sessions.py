"""Listen sessions (``rampwire listen``) and the reads of the event log their streams make.

A session is a filter (event-type patterns, a dialect, whose orders), a signing secret sealed
with the master key, and a cursor into the ``events`` table. It makes no deliveries: a stream
reads the events after its cursor, so a session nobody reads holds nothing back and costs one
row until it expires (``read_at`` older than the idle timeout: :meth:`expire`, or on access).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..crypto import SecretBox
from ..domain import serde
from ..domain.partners import Tenant
from ..errors import NotFound
from ..ids import new_id
from ..settings import Secret
from ..storage import Database, Row
from ..storage.database import from_us, to_us

LISTEN_SESSION_ID_PREFIX = "lsn"
_COLUMNS = "id, partner_id, event_types, dialect, secret, after_id, created_at, read_at"


@dataclass(frozen=True, kw_only=True, slots=True)
class ListenSession:
    id: str
    partner_id: str | None  # whose orders it streams; None: an operator's, every order's
    event_types: tuple[str, ...]  # patterns, as an endpoint's
    dialect: str
    secret: Secret | None  # None where rampwire's own key signs (fireblocks)
    after_id: str  # the cursor: a stream sends the events after this id
    created_at: datetime
    read_at: datetime  # when a stream was last open

    def expired(self, now: datetime, idle: timedelta) -> bool:
        return now - self.read_at > idle


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggedEvent:
    """An event of the log as a stream reads it; ``payload`` is None when the session may not
    see it (another partner's order, or no order at all)."""

    id: str
    type: str
    order_id: str | None
    payload: bytes | None


def secret_context(session_id: str) -> str:
    return f"listen_session:{session_id}"


def new_session_id() -> str:
    return new_id(LISTEN_SESSION_ID_PREFIX)


class ListenSessionRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def create(self, session: ListenSession) -> None:
        secret = session.secret
        sealed = None
        if secret is not None:
            sealed = self._box.encrypt(secret.reveal(), context=secret_context(session.id))
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO listen_sessions ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                session.id,
                session.partner_id,
                serde.to_json(list(session.event_types)).decode(),
                session.dialect,
                sealed,
                session.after_id,
                to_us(session.created_at),
                to_us(session.read_at),
            )

    async def get(
        self, session_id: str, tenant: Tenant, *, now: datetime, idle: timedelta
    ) -> ListenSession:
        """The session, if ``tenant`` may see it; one that has expired is deleted here (the
        sweeper may not have passed yet) and, like a missing one, is :class:`NotFound`."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM listen_sessions WHERE id = $1", session_id
            )
        if row is None or not tenant.owns(row["partner_id"]):
            raise NotFound(f"no listen session {session_id!r}")
        session = self._session(row)
        if session.expired(now, idle):
            await self.expire(now - idle, only=session_id)
            raise NotFound(f"no listen session {session_id!r}: it expired, unread")
        return session

    async def touch(self, session_id: str, *, after_id: str, now: datetime) -> bool:
        """A stream is open and has sent up to ``after_id``: keep the session alive and move its
        cursor (never backwards). False when the session is gone (deleted or expired)."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE listen_sessions SET read_at = $2,"
                " after_id = CASE WHEN after_id < $3 THEN $3 ELSE after_id END WHERE id = $1",
                session_id,
                to_us(now),
                after_id,
            )
        return changed > 0

    async def delete(self, session_id: str) -> bool:
        async with self._db.transaction() as conn:
            changed = await conn.execute("DELETE FROM listen_sessions WHERE id = $1", session_id)
        return changed > 0

    async def expire(self, unread_since: datetime, *, only: str | None = None) -> int:
        """Delete the sessions no stream has read since ``unread_since``; how many."""
        sql = "DELETE FROM listen_sessions WHERE read_at < $1"
        args: list[object] = [to_us(unread_since)]
        if only is not None:
            sql += " AND id = $2"
            args.append(only)
        async with self._db.transaction() as conn:
            return await conn.execute(sql, *args)

    async def count(self) -> int:
        async with self._db.connection() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM listen_sessions"))

    # -- the event log, as a stream reads it --

    async def events_after(
        self, after_id: str, partner_id: str | None, *, limit: int
    ) -> list[LoggedEvent]:
        """The events after ``after_id`` in id order, at most ``limit``, every one of them (so
        the cursor moves past what the session may not see), with its payload when it is an
        order's event that ``partner_id`` (None: any) owns."""
        return await self._events("e.id > $1 ORDER BY e.id LIMIT $2", [after_id, limit], partner_id)

    async def events_in(self, ids: Sequence[str], partner_id: str | None) -> list[LoggedEvent]:
        """The events ``ids``, as :meth:`events_after` reads them, in id order."""
        if not ids:
            return []
        placeholders = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        return await self._events(f"e.id IN ({placeholders}) ORDER BY e.id", list(ids), partner_id)

    async def event_ids_between(self, lower: str, upper: str) -> list[str]:
        """The ids of the events in (``lower``, ``upper``]: the primary key's index alone."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id FROM events WHERE id > $1 AND id <= $2", lower, upper
            )
        return [row["id"] for row in rows]

    async def _events(
        self, where: str, args: list[object], partner_id: str | None
    ) -> list[LoggedEvent]:
        # -- listen_events --: the payload only of what the session may see
        visible = "o.id IS NOT NULL"
        if partner_id is not None:
            args = [*args, partner_id]
            visible += f" AND o.partner_id = ${len(args)}"
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT e.id, e.type, e.order_id, CASE WHEN {visible} THEN e.payload END"
                f" AS payload FROM events e LEFT JOIN orders o ON o.id = e.order_id WHERE {where}",
                *args,
            )
        return [
            LoggedEvent(
                id=row["id"],
                type=row["type"],
                order_id=row["order_id"],
                payload=None if row["payload"] is None else row["payload"].encode(),
            )
            for row in rows
        ]

    def _session(self, row: Row) -> ListenSession:
        sealed = row["secret"]
        return ListenSession(
            id=row["id"],
            partner_id=row["partner_id"],
            event_types=tuple(serde.from_json(row["event_types"])),
            dialect=row["dialect"],
            secret=None
            if sealed is None
            else self._box.decrypt(sealed, context=secret_context(row["id"])),
            after_id=row["after_id"],
            created_at=from_us(row["created_at"]),
            read_at=from_us(row["read_at"]),
        )
