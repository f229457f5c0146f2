"""api.context.log_context: in one call, what the ingest front bound through ``request_id``,
``log_ids`` and ``logs.bind`` (the same ids, in the same order)."""

from __future__ import annotations

import pytest

from rampwire.api import context

PATHS = [
    "/ingest/src_01HZX3K9Q7M2N4P6R8T0V1W3Y5",
    "/ingest/src_01HZX3K9Q7M2N4P6R8T0V1W3Y5/[redacted]",
    "/ingest/not-a-source",
    "/ingest/ord_0123456789abc",  # any id the path names goes to its field
    "/ingest/xyz_0123456789",  # a prefix rampwire does not log
    "/ingest/a b/ord_0123456789",  # a token redact() left alone (a source with a space)
    "/v1/orders/ord_0123456789/events/evt_0123456789abc/ord_9876543210",
    "/",
]
GIVEN = [None, "", "abc-123", "req.partner:42", "x" * 64, "x" * 65, "bad id", "caf\xe9"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("given", GIVEN)
def test_log_context_is_request_id_then_log_ids_as_bound(given: str | None, path: str) -> None:
    ids = context.log_context(given, path)
    request_id = ids["request_id"]
    if given is not None and context.request_id(given) == given:
        assert request_id == given
    else:
        assert request_id.startswith("req_") and request_id != given
    expected = dict(request_id=request_id, **context.log_ids(path))
    assert list(ids.items()) == list(expected.items())
