"""The authorization callback's configuration (secrets encrypted) and its decision log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..authorization import AuthorizationConfig, Decision
from ..crypto import SecretBox
from ..domain import serde
from ..ids import new_id
from ..storage import Database
from ..storage.database import from_us, to_us

CONFIG_ID = "default"
CONTEXT = f"authorization:{CONFIG_ID}"
DECISION_ID_PREFIX = "azd"


class AuthorizationRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def get(self) -> AuthorizationConfig | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT config, secret FROM authorization_config WHERE id = $1", CONFIG_ID
            )
        if row is None:
            return None
        secrets = serde.from_json(self._box.decrypt(row["secret"], context=CONTEXT).reveal())
        return AuthorizationConfig.from_storage(serde.from_json(row["config"]), secrets)

    async def put(self, config: AuthorizationConfig, *, now: datetime) -> None:
        stored = config.to_storage()
        sealed = self._box.encrypt(
            serde.to_json({k: v.reveal() for k, v in stored.secrets.items()}).decode(),
            context=CONTEXT,
        )
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM authorization_config WHERE id = $1", CONFIG_ID)
            await conn.execute(
                "INSERT INTO authorization_config (id, config, secret, updated_at)"
                " VALUES ($1, $2, $3, $4)",
                CONFIG_ID,
                serde.to_json(stored.document).decode(),
                sealed,
                to_us(now),
            )

    async def delete(self) -> bool:
        async with self._db.transaction() as conn:
            return bool(
                await conn.execute("DELETE FROM authorization_config WHERE id = $1", CONFIG_ID)
            )

    async def record(self, decision: Decision, *, order_id: str | None) -> str:
        """Put one decision on the audit log; returns its id."""
        decision_id = new_id(DECISION_ID_PREFIX)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO authorization_decisions (id, decided_at, operation, subject,"
                " order_id, allowed, outcome, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                decision_id,
                to_us(decision.decided_at),
                decision.operation.value,
                str(decision.subject),
                order_id,
                1 if decision.allowed else 0,
                decision.outcome.value,
                serde.to_json(serde.dump(decision)).decode(),
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

    async def decisions(self, *, order_id: str | None = None, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT id, decided_at, order_id, body FROM authorization_decisions"
        args: list[Any] = []
        if order_id is not None:
            sql += " WHERE order_id = $1"
            args.append(order_id)
        sql += f" ORDER BY id DESC LIMIT ${len(args) + 1}"
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *args, limit)
        return [
            {
                "id": row["id"],
                "order_id": row["order_id"],
                **serde.from_json(row["body"]),
                "decided_at": from_us(row["decided_at"]),
            }
            for row in rows
        ]
