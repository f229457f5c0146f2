"""Timeline entries as written: the stored body (``entry_json``), the bytes of the body."""

from __future__ import annotations

from datetime import UTC

from hypothesis import given
from hypothesis import strategies as st

from rampwire.domain import serde
from rampwire.domain.events import Source
from rampwire.domain.timeline import EntryKind, TimelineEntry, entry_body, entry_json

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
def test_an_entrys_stored_json_is_its_body_serialised(entry: TimelineEntry) -> None:
    assert entry_json(entry) == serde.to_json(entry_body(entry))
