"""The raw inbound log's columns, and its rows to and from :class:`InboundRecord`."""

from __future__ import annotations

from typing import Any

import orjson

from ..domain import serde
from ..domain.orders import Provider
from ..ingest.inbound import InboundOutcome, InboundRecord, kept_headers
from ..storage import Row
from ..storage.database import Columns, from_us
from .order_rows import micros

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


__all__ = ["COLUMNS", "INBOUND", "inbound_record", "inbound_row"]
