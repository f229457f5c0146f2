"""The raw inbound log's columns, its rows to and from :class:`InboundRecord`, and the reads of
which requests it holds already (a batch's first statement on PostgreSQL, ``-- open_batch --``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..domain import serde
from ..domain.orders import Provider
from ..ingest.inbound import InboundOutcome, InboundRecord, kept_headers
from ..storage import Connection, Row
from ..storage.database import Columns, fetch_rows, from_us
from ..storage.texts import split_texts
from . import provider_orders
from .order_rows import micros
from .outbox import live_endpoints_json

INBOUND = Columns.of(
    "id text, source_id text, provider text, dedupe_key text, received_at bigint,"
    " processed_at bigint, outcome text, detail text, provider_order_id text, order_id text,"
    " provider_event text, event_ids json, headers json, body text, peer_ip text,"
    " attempts integer",
    row_type="inbound_row",
)
COLUMNS = INBOUND.listed


def inbound_row(record: InboundRecord) -> tuple[Any, ...]:
    """The columns of :data:`INBOUND`, in order."""
    return (
        record.id,
        record.source_id,
        str(record.provider),  # StrEnums: str() is the value, without enum's property
        record.dedupe_key,
        micros(record.received_at),
        micros(record.processed_at),
        str(record.outcome),
        record.detail,
        record.provider_order_id,
        record.order_id,
        record.provider_event,
        # strings only: orjson itself, as serde.to_json would write them (a tuple as a list)
        orjson.dumps(record.event_ids).decode(),
        orjson.dumps(record.headers).decode(),
        record.body,
        record.peer_ip,
        record.attempts,
    )


def inbound_record(row: Row) -> InboundRecord:
    return InboundRecord(
        id=row["id"],
        source_id=row["source_id"],
        provider=Provider(row["provider"]),
        dedupe_key=row["dedupe_key"],
        received_at=from_us(row["received_at"]),
        processed_at=from_us(row["processed_at"]),
        outcome=InboundOutcome(row["outcome"]),
        detail=row["detail"],
        provider_order_id=row["provider_order_id"],
        order_id=row["order_id"],
        provider_event=row["provider_event"],
        event_ids=tuple(serde.from_json(row["event_ids"])),
        headers=kept_headers(serde.from_json(row["headers"])),  # rows from before the list grew
        body=row["body"],
        peer_ip=row["peer_ip"],
        attempts=row["attempts"],
    )


_LOG_KEY = Columns.of("source_id text, dedupe_key text")


async def logged_keys(conn: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (source id, de-duplication key) pairs the log holds already."""
    rows = await fetch_rows(
        conn,
        _LOG_KEY,
        keys,
        "SELECT source_id, dedupe_key FROM inbound"
        " WHERE (source_id, dedupe_key) IN (SELECT source_id, dedupe_key FROM v)",
    )
    return {(row["source_id"], row["dedupe_key"]) for row in rows}


def _open_statement(
    source_ids: str, keys: str, locks: str, partners: str, providers: str, order_ids: str
) -> str:
    """-- open_batch --, with the text arrays of its source ids, de-duplication keys, lock keys,
    partners, and its orders' providers and provider order ids. Its rows: one with ``logged``
    and ``endpoints`` (its order columns NULL), and one per order found (those two NULL)."""
    return (
        f"WITH v (provider, provider_order_id) AS"
        f" (SELECT * FROM unnest({providers}::text[], {order_ids}::text[])),"
        f" held AS ({provider_orders.locked_read(locks)})"
        " SELECT b.*, h.* FROM (SELECT"
        " (SELECT json_agg(json_build_array(i.source_id, i.dedupe_key)) FROM inbound i"
        "  WHERE (i.source_id, i.dedupe_key) IN"
        f" (SELECT * FROM unnest({source_ids}::text[], {keys}::text[])))"
        f" AS logged, ({live_endpoints_json(partners)}) AS endpoints) AS b"
        " FULL JOIN held h ON false"  # the batch's row, then the orders', side by side
    )


# Made once: the same text objects each time, which the driver's statement cache finds by
# their cached hash. The lists go as texts (storage.texts.split_texts: no array for the
# driver to check element by element), or as arrays where no text can say them.
OPEN_BATCH = _open_statement(*(f"string_to_array(${n}, $7, $8)" for n in range(1, 7)))
OPEN_BATCH_ARRAYS = _open_statement(*(f"${n}" for n in range(1, 7)))


@dataclass(frozen=True, kw_only=True, slots=True)
class Opened:
    """What a batch's first statement read (:func:`open_batch`)."""

    logged: str | None  # a JSON array of the (source id, key) pairs logged, NULL when none
    endpoints: str | None  # :func:`.outbox.subscribers` reads it
    orders: list[Row]  # as :func:`.provider_orders.apply` takes them


async def open_batch(
    conn: Connection,
    keys: Sequence[tuple[str, str]],
    orders: Collection[tuple[Provider, str]],
    partners: list[str],
) -> Opened:
    """PostgreSQL, a batch's first statement: take the advisory locks of ``orders``
    (:func:`.provider_orders.lock`), then read them (:func:`.provider_orders.locked_read`,
    whose caller must catch an order made while it waited for the locks), and read which of
    ``keys`` the log holds and the live endpoints of the operator and of ``partners``."""
    locks = provider_orders.lock_keys(orders)
    lists = (
        [source_id for source_id, _ in keys],
        [key for _, key in keys],
        locks,
        partners,
        [str(provider) for provider, _ in orders],  # str(): a StrEnum's value, in C
        [order_id for _, order_id in orders],
    )
    split = split_texts(lists)
    if split is None:
        rows = await conn.fetch(OPEN_BATCH_ARRAYS, *lists)
    else:
        texts, separator, null = split
        rows = await conn.fetch(OPEN_BATCH, *texts, separator, null)
    found = [row for row in rows if row["id"] is not None]
    [batch] = [row for row in rows if row["id"] is None]
    return Opened(logged=batch["logged"], endpoints=batch["endpoints"], orders=found)


__all__ = [
    "COLUMNS",
    "INBOUND",
    "OPEN_BATCH",
    "OPEN_BATCH_ARRAYS",
    "Opened",
    "inbound_record",
    "inbound_row",
    "logged_keys",
    "open_batch",
]
