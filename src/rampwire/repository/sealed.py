"""Every value sealed with the master key, wherever it is stored, and re-sealing them.

A master key rotation re-seals each value that is not under the current key (it names its key:
:mod:`rampwire.crypto`), table by table in batches of :data:`BATCH` rows, one transaction per
batch, while the processes that serve meanwhile decrypt with both keys. A row is rewritten only
if it still holds the value read (compare and set), so a concurrent write, already sealed with
the current key, is never overwritten. Endpoint header values an earlier version stored in clear
are sealed on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..crypto import SecretBox
from ..domain import serde
from ..storage import Database
from .authorization import config_context
from .endpoints import headers_context, secrets_context
from .listen_sessions import secret_context as listen_secret_context
from .signing_keys import key_context
from .sources import credentials_context

BATCH = 100  # rows per transaction


class Shape(Enum):
    TEXT = "text"  # the column is one ciphertext
    JSON_TEXT = "json text"  # a JSON string holding one ciphertext (or, from before, clear JSON)
    SECRET_LIST = "secret list"  # a JSON list of {"secret": ciphertext, ...}


@dataclass(frozen=True, kw_only=True, slots=True)
class SealedColumn:
    table: str
    key: str  # the primary key column
    column: str
    context: Callable[[str], str]  # what each value is bound to, from the row's key
    shape: Shape = Shape.TEXT

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


COLUMNS = (
    SealedColumn(table="endpoints", key="id", column="secrets", context=secrets_context,
                 shape=Shape.SECRET_LIST),
    SealedColumn(table="endpoints", key="id", column="headers", context=headers_context,
                 shape=Shape.JSON_TEXT),
    SealedColumn(table="sources", key="id", column="credentials", context=credentials_context),
    SealedColumn(table="authorization_config", key="id", column="secret",
                 context=config_context),
    SealedColumn(table="signing_keys", key="kid", column="private_key", context=key_context),
    SealedColumn(table="listen_sessions", key="id", column="secret",
                 context=listen_secret_context),
)  # fmt: skip


def _ciphertexts(column: SealedColumn, stored: str) -> list[str]:
    """The ciphertexts in one stored value (none for clear JSON from before sealing)."""
    if column.shape is Shape.TEXT:
        return [stored]
    value = serde.from_json(stored)
    if column.shape is Shape.JSON_TEXT:
        return [value] if isinstance(value, str) else []
    return [entry["secret"] for entry in value]


def _resealed(box: SecretBox, column: SealedColumn, row_key: str, stored: str) -> str:
    """``stored`` with every ciphertext in it sealed with the current key."""
    context = column.context(row_key)
    if column.shape is Shape.TEXT:
        return box.reseal(stored, context=context)
    value: Any = serde.from_json(stored)
    if column.shape is Shape.JSON_TEXT:
        if isinstance(value, str):
            value = box.reseal(value, context=context)
        else:  # clear header values from before they were sealed
            value = box.encrypt(serde.to_json(value).decode(), context=context)
    else:
        value = [{**e, "secret": box.reseal(e["secret"], context=context)} for e in value]
    return serde.to_json(value).decode()


async def reseal(db: Database, box: SecretBox, *, batch: int = BATCH) -> dict[str, int]:
    """Seal every stored secret with the current key; how many values each column rewrote."""
    rewritten: dict[str, int] = {}
    for column in COLUMNS:
        rewritten[column.name] = 0
        after = ""
        while True:
            async with db.transaction() as conn:
                rows = await conn.fetch(
                    f"SELECT {column.key} AS k, {column.column} AS v FROM {column.table}"
                    f" WHERE {column.key} > $1 ORDER BY {column.key} LIMIT $2",
                    after,
                    batch,
                )
                for row in rows:
                    stored = row["v"]
                    if stored is None or _current(box, column, stored):  # None: nothing sealed
                        continue
                    rewritten[column.name] += await conn.execute(
                        f"UPDATE {column.table} SET {column.column} = $2"
                        f" WHERE {column.key} = $1"
                        f" AND CAST({column.column} AS TEXT) = CAST($3 AS TEXT)",
                        row["k"],
                        _resealed(box, column, row["k"], stored),
                        stored,
                    )
            if len(rows) < batch:
                break
            after = rows[-1]["k"]
    return rewritten


def _current(box: SecretBox, column: SealedColumn, stored: str) -> bool:
    found = _ciphertexts(column, stored)
    if column.shape is Shape.JSON_TEXT and not found:
        return stored.strip() in ("{}", "")  # clear and empty: nothing to seal
    return all(box.is_current(token) for token in found)


async def stale(db: Database, box: SecretBox) -> dict[str, int]:
    """How many rows of each column hold a value not sealed with the current key."""
    found: dict[str, int] = {}
    async with db.connection() as conn:
        for column in COLUMNS:
            rows = await conn.fetch(f"SELECT {column.column} AS v FROM {column.table}")
            found[column.name] = sum(
                row["v"] is not None and not _current(box, column, row["v"]) for row in rows
            )
    return found
