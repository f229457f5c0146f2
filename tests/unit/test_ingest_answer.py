"""The ingest route's 200 body, made by ``record_json`` with the answer's fields put first, is
byte for byte the JSON of the answer's fields followed by the record's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rampwire.api.ingest import _RECEIVED, record_json
from rampwire.domain import serde
from rampwire.domain.orders import Provider
from rampwire.ingest.inbound import InboundOutcome, InboundRecord

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _record(**changes: object) -> InboundRecord:
    fields: dict[str, object] = {
        "id": "inb_01HZX3K9Q7M2N4P6R8T0V1W3Y5",
        "source_id": "src_01HZX3K9Q7M2N4P6R8T0V1W3Y5",
        "provider": Provider.REVOLUT,
        "dedupe_key": "k1",
        "received_at": NOW,
        "processed_at": NOW,
        "outcome": InboundOutcome.APPLIED,
        "detail": None,
        "provider_order_id": "r1",
        "order_id": "ord_01HZX3K9Q7M2N4P6R8T0V1W3Y5",
        "provider_event": "ORDER_COMPLETED",
        "event_ids": ("evt_1", "evt_2"),
        "headers": {"content-type": "application/json"},
        "body": "{}",
        "peer_ip": "192.0.2.7",
        "attempts": 1,
    }
    fields.update(changes)
    return InboundRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "record",
    [
        _record(),
        _record(event_ids=(), detail="unmapped: no such status", order_id=None),
        _record(provider=Provider.SABER, outcome=InboundOutcome.UNAPPLIED, attempts=3),
    ],
)
def test_the_answer_is_the_received_fields_then_the_record(record: InboundRecord) -> None:
    answer = serde.to_json(record_json(record, head=_RECEIVED))
    assert answer == serde.to_json({"received": True, "duplicate": False, **record_json(record)})
    assert list(record_json(record, full=True))[:13] == list(record_json(record))
    assert "received" not in record_json(record, full=True)
