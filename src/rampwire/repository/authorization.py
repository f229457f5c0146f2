"""The authorization callback's configuration (secrets encrypted) and its decision log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..authorization import AuthorizationConfig, Decision
from ..crypto import SecretBox
from ..domain import serde
from ..ids import new_id
from ..storage import Database
from ..storage.database import Where, from_us, to_us

CONFIG_ID = "default"  # the operator's callback: the default for partners without their own
DECISION_ID_PREFIX = "azd"


def _config_id(partner_id: str | None) -> str:
    """A partner's callback is stored under its id; the operator's under :data:`CONFIG_ID`."""
    return CONFIG_ID if partner_id is None else partner_id


def config_context(config_id: str) -> str:
    """What a callback's sealed secrets are bound to: its row."""
    return f"authorization:{config_id}"


class AuthorizationRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def get(self, partner_id: str | None = None) -> AuthorizationConfig | None:
        """The partner's own callback (the operator's with None), or None."""
        config_id = _config_id(partner_id)
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT config, secret FROM authorization_config WHERE id = $1", config_id
            )
        if row is None:
            return None
        plain = self._box.decrypt(row["secret"], context=config_context(config_id)).reveal()
        return AuthorizationConfig.from_storage(
            serde.from_json(row["config"]), serde.from_json(plain)
        )

    async def effective(self, partner_id: str | None) -> AuthorizationConfig | None:
        """The callback that answers for a partner's users: its own, else the operator's."""
        own = None if partner_id is None else await self.get(partner_id)
        return own if own is not None else await self.get(None)

    async def put(
        self, config: AuthorizationConfig, *, now: datetime, partner_id: str | None = None
    ) -> None:
        config_id = _config_id(partner_id)
        stored = config.to_storage()
        sealed = self._box.encrypt(
            serde.to_json({k: v.reveal() for k, v in stored.secrets.items()}).decode(),
            context=config_context(config_id),
        )
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM authorization_config WHERE id = $1", config_id)
            await conn.execute(
                "INSERT INTO authorization_config (id, config, secret, updated_at)"
                " VALUES ($1, $2, $3, $4)",
                config_id,
                serde.to_json(stored.document).decode(),
                sealed,
                to_us(now),
            )

    async def delete(self, partner_id: str | None = None) -> bool:
        config_id = _config_id(partner_id)
        async with self._db.transaction() as conn:
            return bool(
                await conn.execute("DELETE FROM authorization_config WHERE id = $1", config_id)
            )

    async def record(
        self, decision: Decision, *, order_id: str | None, partner_id: str | None = None
    ) -> str:
        """Put one decision on the audit log, under the order's partner; returns its id."""
        decision_id = new_id(DECISION_ID_PREFIX)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO authorization_decisions (id, decided_at, operation, subject,"
                " order_id, allowed, outcome, body, partner_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                decision_id,
                to_us(decision.decided_at),
                decision.operation.value,
                str(decision.subject),
                order_id,
                1 if decision.allowed else 0,
                decision.outcome.value,
                serde.to_json(serde.dump(decision)).decode(),
                partner_id,
            )
        return decision_id

    async def link(self, decision_id: str, order_id: str) -> None:
        """Name the order an allowed create made: the decision precedes the order's id."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE authorization_decisions SET order_id = $1 WHERE id = $2",
                order_id,
                decision_id,
            )

    async def decisions(
        self, *, order_id: str | None = None, limit: int, partner_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; with ``partner_id``, the decisions on that partner's orders only."""
        where = Where()
        where.equals("order_id", order_id)
        where.equals("partner_id", partner_id)
        sql = where.newest_first(
            "SELECT id, decided_at, order_id, body FROM authorization_decisions",
            before=None,
            limit=limit,
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        return [
            {
                "id": row["id"],
                "order_id": row["order_id"],
                **serde.from_json(row["body"]),
                "decided_at": from_us(row["decided_at"]),
            }
            for row in rows
        ]
