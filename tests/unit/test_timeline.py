"""Timeline entries as written: the bytes of the stored (and shown) body, ``entry_body`` as
orjson writes it, and the entry read back from them."""

from __future__ import annotations

from datetime import UTC

from hypothesis import given
from hypothesis import strategies as st

from rampwire.domain import serde
from rampwire.domain.events import Source, source_values
from rampwire.domain.timeline import EntryKind, TimelineEntry, entry_body, stored_entry

texts = st.text(max_size=12)
optional = st.none() | texts
times = st.datetimes(timezones=st.just(UTC))
sources = st.builds(Source, provider=optional, provider_event=optional, received_at=times)
anomalies = st.none() | st.fixed_dictionaries(
    {"code": texts, "detail": texts, "statuses": st.lists(texts, max_size=2)}
)
entries = st.builds(
    TimelineEntry,
    order_id=texts,
    seq=st.integers(0, 10**6),
    kind=st.sampled_from(list(EntryKind)),
    recorded_at=times,
    occurred_at=times,
    status=optional,
    from_status=texts,
    to_status=texts,
    version=st.integers(0, 10**6),
    changed_fields=st.lists(texts, max_size=3).map(tuple),
    event_ids=st.lists(texts, max_size=2).map(tuple),
    source=sources,
    anomaly=anomalies,
    actor=optional,
    note=optional,
)


@given(entries)
def test_an_entrys_body_is_written_in_field_order_with_arrays(entry: TimelineEntry) -> None:
    """The bytes stored (and, with its place, shown by the API): these keys in this order."""
    assert serde.to_json(entry_body(entry)) == serde.to_json(
        {
            "status": entry.status,
            "from_status": entry.from_status,
            "to_status": entry.to_status,
            "version": entry.version,
            "changed_fields": list(entry.changed_fields),
            "event_ids": list(entry.event_ids),
            "source": source_values(entry.source),
            "anomaly": entry.anomaly,
            "actor": entry.actor,
            "note": entry.note,
        }
    )


@given(entries)
def test_an_entry_reads_back_from_its_body_as_written(entry: TimelineEntry) -> None:
    body = serde.from_json(serde.to_json(entry_body(entry)))
    assert (
        stored_entry(
            order_id=entry.order_id,
            seq=entry.seq,
            kind=entry.kind.value,
            recorded_at=entry.recorded_at,
            occurred_at=entry.occurred_at,
            body=body,
        )
        == entry
    )
