"""Endpoints in storage; their secrets and custom header values are encrypted with the master
key.

``headers`` holds the whole name-to-value map sealed as one ciphertext (a JSON string);
endpoints written before that hold a plain JSON object, read as is and sealed by
:meth:`EndpointRepository.seal_clear_headers` (``rampwire migrate`` and start-up) or on their
next write. An empty map is stored unsealed, as ``{}`` (:data:`NO_HEADERS`): its ciphertext's
length told as much, and a reader skips an opening. Rows holding a sealed empty map (written
before) read the same and are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from ..crypto import SecretBox
from ..delivery.endpoints import (
    DEFAULT_SIGNATURES,
    ENDPOINT_ID_PREFIX,
    ROTATION_OVERLAP,
    Endpoint,
    Ordering,
    SigningSecret,
    StoredSecret,
    StoredTarget,
    endpoint_of_values,
    stored_target,
)
from ..domain import serde
from ..errors import NotFound
from ..ids import new_id
from ..settings import Secret
from ..storage import Connection, Database, Row
from ..storage.database import Where, from_us, to_us
from ..types import record_maker

_COLUMNS = (
    "id, url, description, event_types, dialect, headers, secrets, rate_limit, max_in_flight,"
    " ordering, retry_policy, disabled_at, disabled_reason, last_success_at, failing_since,"
    " created_at, updated_at, partner_id, partners, signatures, traceparent"
)
_ID, _UPDATED_AT = 0, 16  # positions in _COLUMNS
# what a worker builds its send settings of (StoredTarget): 12 of the 21 columns, each of which
# costs the driver about as much to fetch and convert
_TARGET_COLUMNS = (
    "id, updated_at, url, dialect, headers, secrets, rate_limit, max_in_flight, retry_policy,"
    " disabled_at, signatures, traceparent"
)


def _statements_by_ids(columns: str) -> tuple[str, str]:
    """The statements reading ``columns`` of the endpoints of a list of ids, for SQLite and
    PostgreSQL. SQLite's takes the ids as one JSON array (a VALUES list's text, and so its
    preparation, changed with the number of ids: hundreds of them in a fresh worker's claims),
    each id looked up by key (``CROSS JOIN`` keeps that order; ``IN (SELECT ...)`` built a
    temporary index of the ids first). PostgreSQL's takes them as one JSON array too, looked
    up by primary key (``= ANY(ARRAY(...))``, as the claim's): asyncpg encodes a ``text[]``
    element by element, each through two ``isinstance`` checks against abstract classes, which
    cost more than the rest of the read's arguments when a fresh worker reads hundreds."""
    qualified = ", ".join(f"e.{column.strip()}" for column in columns.split(","))
    return (
        f"SELECT {qualified} FROM json_each($1) AS j CROSS JOIN endpoints AS e"
        " ON e.id = j.value WHERE e.deleted_at IS NULL",
        f"SELECT {columns} FROM endpoints"
        " WHERE id = ANY(ARRAY(SELECT json_array_elements_text($1::json)))"
        " AND deleted_at IS NULL",
    )


_MANY = _statements_by_ids(_COLUMNS)  # get_many: whole endpoints
_TARGETS = _statements_by_ids(_TARGET_COLUMNS)  # stored_targets: what the worker sends with
MUTABLE = (
    "url", "description", "event_types", "dialect", "headers", "rate_limit", "max_in_flight",
    "ordering", "retry_policy", "signatures", "traceparent",
)  # fmt: skip


_signing_secret = record_maker(SigningSecret)
NO_HEADERS = "{}"  # an endpoint without custom headers: nothing to seal
PARSED = 4096  # distinct stored event_types and partners values whose parsed tuples are kept


@lru_cache(maxsize=PARSED)
def _strings(stored: str) -> tuple[str, ...]:
    """A stored JSON list of strings (event_types, partners) as a tuple, parsed once per value:
    most endpoints share a handful of them."""
    return tuple(serde.from_json(stored))


# the stored value's member: a dictionary lookup where calling the enum is two Python calls
_ORDERINGS = {ordering.value: ordering for ordering in Ordering}


def _signatures(stored: str | None) -> tuple[str, ...]:
    return DEFAULT_SIGNATURES if stored is None else tuple(stored.split(","))


def _stored_signatures(signatures: tuple[str, ...]) -> str | None:
    """NULL for the default (v1), so rows written before the column read the same."""
    return None if signatures == DEFAULT_SIGNATURES else ",".join(signatures)


def secrets_context(endpoint_id: str) -> str:
    return f"endpoint:{endpoint_id}"


def headers_context(endpoint_id: str) -> str:
    return f"endpoint:{endpoint_id}:headers"


class EndpointRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def _context(self, endpoint_id: str) -> str:
        return secrets_context(endpoint_id)

    def _seal_headers(self, endpoint_id: str, headers: Mapping[str, str]) -> str:
        if not headers:
            return NO_HEADERS
        plain = serde.to_json(dict(headers)).decode()
        sealed = self._box.encrypt(plain, context=headers_context(endpoint_id))
        return serde.to_json(sealed).decode()

    def _headers(self, endpoint_id: str, stored: str) -> dict[str, str]:
        if stored == NO_HEADERS:
            return {}
        value = serde.from_json(stored)
        if isinstance(value, dict):  # written before header values were sealed
            return value
        plain = self._box.decrypt(value, context=headers_context(endpoint_id)).reveal()
        return serde.from_json(plain)  # type: ignore[no-any-return]

    def _seal(self, endpoint_id: str, secrets: tuple[SigningSecret, ...]) -> str:
        return serde.to_json(
            [
                {
                    "secret": self._box.encrypt(
                        s.value.reveal(), context=self._context(endpoint_id)
                    ),
                    "created_at": to_us(s.created_at),
                    "expires_at": None if s.expires_at is None else to_us(s.expires_at),
                }
                for s in secrets
            ]
        ).decode()

    def _endpoint(self, row: Row) -> Endpoint:
        # unpacked once, in _COLUMNS' order: a driver row's lookup by name scans the column
        # names, and a worker meeting thousands of endpoints reads each row here
        (
            endpoint_id, url, description, event_types, dialect, headers, sealed, rate_limit,
            max_in_flight, ordering, policy, disabled_at, disabled_reason, last_success_at,
            failing_since, created_at, updated_at, partner_id, partners, signatures, traceparent,
        ) = row  # fmt: skip
        # most endpoints' first secret was made with them, and many are unchanged since: one
        # datetime made for the equal times (datetimes are immutable)
        created = from_us(created_at)
        updated = created if updated_at == created_at else from_us(updated_at)
        decrypt, context = self._box.decrypt, secrets_context(endpoint_id)
        secrets = tuple(
            [
                _signing_secret(
                    (  # SigningSecret's field order: value, created_at, expires_at
                        decrypt(s["secret"], context=context),
                        created if s["created_at"] == created_at else from_us(s["created_at"]),
                        None if s["expires_at"] is None else from_us(s["expires_at"]),
                    )
                )
                for s in serde.from_json(sealed)
            ]
        )
        return endpoint_of_values(
            (  # ENDPOINT_FIELDS' order: test_endpoint_rows checks it against the keywords
                endpoint_id,
                url,
                _strings(event_types),
                dialect,
                secrets,
                created,
                updated,
                description,
                {} if headers == NO_HEADERS else self._headers(endpoint_id, headers),
                rate_limit,
                max_in_flight,
                _ORDERINGS[ordering],
                None if policy is None else serde.from_json(policy),
                None if disabled_at is None else from_us(disabled_at),
                disabled_reason,
                None if last_success_at is None else from_us(last_success_at),
                None if failing_since is None else from_us(failing_since),
                partner_id,
                _strings(partners) if partners else (),
                DEFAULT_SIGNATURES if signatures is None else _signatures(signatures),
                bool(traceparent),
            )
        )

    async def create(self, endpoint: Endpoint) -> Endpoint:
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO endpoints ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                endpoint.id,
                endpoint.url,
                endpoint.description,
                serde.to_json(list(endpoint.event_types)).decode(),
                endpoint.dialect,
                self._seal_headers(endpoint.id, endpoint.headers),
                self._seal(endpoint.id, endpoint.secrets),
                endpoint.rate_limit,
                endpoint.max_in_flight,
                endpoint.ordering.value,
                None
                if endpoint.retry_policy is None
                else serde.to_json(endpoint.retry_policy).decode(),
                None if endpoint.disabled_at is None else to_us(endpoint.disabled_at),
                endpoint.disabled_reason,
                None,
                None,
                to_us(endpoint.created_at),
                to_us(endpoint.updated_at),
                endpoint.partner_id,
                serde.to_json(list(endpoint.partners)).decode() if endpoint.partners else None,
                _stored_signatures(endpoint.signatures),
                1 if endpoint.traceparent else None,
            )
        return endpoint

    async def get(self, endpoint_id: str) -> Endpoint:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM endpoints WHERE id = $1 AND deleted_at IS NULL",
                endpoint_id,
            )
        if row is None:
            raise NotFound(f"no endpoint {endpoint_id!r}")
        return self._endpoint(row)

    async def _by_ids(self, statements: tuple[str, str], endpoint_ids: Sequence[str]) -> list[Row]:
        """The rows of ``endpoint_ids`` that exist (deleted ones left out), in one query."""
        sqlite, postgresql = statements
        if not endpoint_ids:
            return []
        ids = serde.to_json(list(endpoint_ids)).decode()
        async with self._db.connection() as conn:
            return await conn.fetch(sqlite if conn.dialect == "sqlite" else postgresql, ids)

    async def get_many(
        self, endpoint_ids: Sequence[str], *, known: Mapping[str, Endpoint] | None = None
    ) -> dict[str, Endpoint]:
        """The endpoints of ``endpoint_ids`` that exist (deleted ones are left out), in one
        query. An endpoint in ``known`` whose ``updated_at`` is still the stored one (every
        change of its settings, secrets or state moves it) is answered with the known object,
        not decoded and decrypted again; its delivery health (``last_success_at``,
        ``failing_since``) is then the known one's."""
        rows = await self._by_ids(_MANY, endpoint_ids)
        known = known or {}
        found: dict[str, Endpoint] = {}
        for row in rows:  # by position: a lookup by name scans the 21 column names
            endpoint_id = row[_ID]
            same = known.get(endpoint_id)
            if same is None or to_us(same.updated_at) != row[_UPDATED_AT]:
                same = self._endpoint(row)
            found[endpoint_id] = same
        return found

    async def stored_targets(
        self, endpoint_ids: Sequence[str], *, known: Mapping[str, StoredTarget]
    ) -> dict[str, StoredTarget]:
        """What the worker builds the send settings of ``endpoint_ids`` of, for those that exist
        (deleted ones are left out), in one query: the worker reads a claim's endpoints
        together, and only the columns a send needs. One in ``known`` whose version is still
        the stored ``updated_at`` (every change of its settings, secrets or state moves it) is
        answered with the known object, not decoded and decrypted again."""
        found: dict[str, StoredTarget] = {}
        for row in await self._by_ids(_TARGETS, endpoint_ids):
            # unpacked once, in _TARGET_COLUMNS' order: a driver row's lookup by name scans
            # the column names
            (
                endpoint_id, updated_at, url, dialect, headers, sealed, rate_limit,
                max_in_flight, policy, disabled_at, signatures, traceparent,
            ) = row  # fmt: skip
            same = known.get(endpoint_id)
            if same is None or same.version != updated_at:
                decrypt = self._box.decrypt
                context = f"endpoint:{endpoint_id}"  # secrets_context(), inlined
                stored = orjson.loads(sealed)  # serde.from_json(), without its call
                if len(stored) == 1:  # most endpoints: no list comprehension's call
                    (one,) = stored
                    secrets: tuple[StoredSecret, ...] = (
                        (
                            decrypt(one["secret"], context=context),
                            one["created_at"],
                            one["expires_at"],
                        ),
                    )
                else:
                    secrets = tuple(
                        [
                            (
                                decrypt(s["secret"], context=context),
                                s["created_at"],
                                s["expires_at"],
                            )
                            for s in stored
                        ]
                    )
                same = stored_target(
                    (  # StoredTarget's field order: test_worker_targets checks it
                        endpoint_id,
                        updated_at,
                        url,
                        dialect,
                        secrets,
                        {} if headers == NO_HEADERS else self._headers(endpoint_id, headers),
                        rate_limit,
                        max_in_flight,
                        None if policy is None else serde.from_json(policy),
                        disabled_at is None,
                        DEFAULT_SIGNATURES if signatures is None else _signatures(signatures),
                        bool(traceparent),
                    )
                )
            found[endpoint_id] = same
        return found

    async def all(
        self, *, limit: int, before: str | None = None, partner_id: str | None = None
    ) -> list[Endpoint]:
        """Endpoints newest first; with ``partner_id``, that partner's only."""
        where = Where()
        where.add("deleted_at IS NULL")
        where.equals("partner_id", partner_id)
        sql = where.newest_first(f"SELECT {_COLUMNS} FROM endpoints", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        return [self._endpoint(row) for row in rows]

    async def update(
        self, endpoint_id: str, changes: Mapping[str, Any], *, now: datetime
    ) -> Endpoint:
        """Set the given fields (names from :data:`MUTABLE`, plus ``enabled``)."""
        sets: list[str] = []
        args: list[Any] = [endpoint_id]

        def put(column: str, value: Any) -> None:
            args.append(value)
            sets.append(f"{column} = ${len(args)}")

        for name, value in changes.items():
            if name == "event_types":
                put(name, serde.to_json(list(value)).decode())
            elif name == "headers":
                put(name, self._seal_headers(endpoint_id, value))
            elif name == "retry_policy":
                put(name, None if value is None else serde.to_json(value).decode())
            elif name == "signatures":
                put(name, _stored_signatures(tuple(value)))
            elif name == "ordering":
                put(name, Ordering(value).value)
            elif name == "traceparent":  # NULL is off, as in rows written before the column
                put(name, 1 if value else None)
            elif name == "partners":
                put(name, serde.to_json(list(value)).decode() if value else None)
            elif name in MUTABLE:
                put(name, value)
        if "enabled" in changes:
            enabled = changes["enabled"]
            put("disabled_at", None if enabled else to_us(now))
            put(
                "disabled_reason", None if enabled else changes.get("disabled_reason") or "disabled"
            )
            if enabled:
                put("failing_since", None)
        put("updated_at", to_us(now))
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                f"UPDATE endpoints SET {', '.join(sets)} WHERE id = $1 AND deleted_at IS NULL",
                *args,
            )
            if changed and changes.get("enabled") is False:
                reason = changes.get("disabled_reason") or "disabled"
                await cancel_waiting(conn, endpoint_id, now=now, reason=f"endpoint {reason}")
        if not changed:
            raise NotFound(f"no endpoint {endpoint_id!r}")
        return await self.get(endpoint_id)

    async def rotate_secret(self, endpoint_id: str, new_secret: str, *, now: datetime) -> Endpoint:
        """Make ``new_secret`` current; the current one keeps signing for the overlap."""
        endpoint = await self.get(endpoint_id)
        kept = tuple(
            s
            if s.expires_at is not None
            else SigningSecret(
                value=s.value, created_at=s.created_at, expires_at=now + ROTATION_OVERLAP
            )
            for s in endpoint.secrets
            if s.active(now)
        )
        secrets = (*kept, SigningSecret(value=Secret(new_secret), created_at=now))
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE endpoints SET secrets = $2, updated_at = $3 WHERE id = $1",
                endpoint_id,
                self._seal(endpoint_id, secrets),
                to_us(now),
            )
        return await self.get(endpoint_id)

    async def delete(self, endpoint_id: str, *, now: datetime) -> None:
        """Remove the endpoint; its waiting deliveries are cancelled, its history kept."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE endpoints SET deleted_at = $2, disabled_at = COALESCE(disabled_at, $2),"
                " disabled_reason = COALESCE(disabled_reason, 'deleted') WHERE id = $1"
                " AND deleted_at IS NULL",
                endpoint_id,
                to_us(now),
            )
            if not changed:
                raise NotFound(f"no endpoint {endpoint_id!r}")
            await cancel_waiting(conn, endpoint_id, now=now, reason="endpoint deleted")

    async def seal_clear_headers(self) -> int:
        """Seal the header values of endpoints written before they were sealed; how many."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, headers FROM endpoints WHERE CAST(headers AS TEXT) LIKE '{%'"
                f" AND CAST(headers AS TEXT) <> '{NO_HEADERS}'"
            )
        sealed = 0
        for row in rows:
            headers = serde.from_json(row["headers"])
            if not isinstance(headers, dict):
                continue
            async with self._db.transaction() as conn:
                # only if unchanged meanwhile: a concurrent update has sealed it already
                sealed += await conn.execute(
                    "UPDATE endpoints SET headers = $2 WHERE id = $1"
                    " AND CAST(headers AS TEXT) = CAST($3 AS TEXT)",
                    row["id"],
                    self._seal_headers(row["id"], headers),
                    row["headers"],
                )
        return sealed

    @staticmethod
    def new_id() -> str:
        return new_id(ENDPOINT_ID_PREFIX)


async def cancel_waiting(conn: Connection, endpoint_id: str, *, now: datetime, reason: str) -> None:
    """Cancel what waits, in flight included: clearing the lease token makes a late result
    from a worker that still holds it a no-op (its attempt is logged, the status stays)."""
    await conn.execute(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_token = NULL,"
        " last_error = $2, updated_at = $3 WHERE endpoint_id = $1 AND next_attempt_at IS NOT NULL",
        endpoint_id,
        reason,
        to_us(now),
    )
