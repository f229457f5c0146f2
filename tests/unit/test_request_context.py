"""api.context.log_context: what a request binds to its log lines: its request id (the
client's when it is a plain token), then the ids its path names, in that order."""

from __future__ import annotations

import pytest

from rampwire.api import context

SOURCE = "src_01HZX3K9Q7M2N4P6R8T0V1W3Y5"
PATHS = {
    f"/ingest/{SOURCE}": {"source_id": SOURCE},
    f"/ingest/{SOURCE}/[redacted]": {"source_id": SOURCE},
    "/ingest/not-a-source": {},
    "/ingest/ord_0123456789abc": {"order_id": "ord_0123456789abc"},  # any id, to its field
    "/ingest/xyz_0123456789": {},  # a prefix rampwire does not log
    "/ingest/a b/ord_0123456789": {"order_id": "ord_0123456789"},
    "/v1/orders/ord_0123456789/events/evt_0123456789abc": {
        "order_id": "ord_0123456789",
        "event_id": "evt_0123456789abc",
    },
    "/": {},
}
KEPT = ["abc-123", "req.partner:42", "x" * 64]
REPLACED = [None, "", "x" * 65, "bad id", "caf\xe9", "a\nb"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("given", KEPT + REPLACED)
def test_log_context_is_the_request_id_then_the_path_ids(given: str | None, path: str) -> None:
    ids = context.log_context(given, path)
    request_id = ids.pop("request_id")
    if given in KEPT:
        assert request_id == given
    else:
        assert request_id.startswith("req_") and len(request_id) == 30
    assert list(ids.items()) == list(PATHS[path].items())


def test_a_later_id_of_the_same_kind_wins() -> None:
    ids = context.log_context("r", "/v1/orders/ord_0123456789/x/ord_9876543210")
    assert ids == {"request_id": "r", "order_id": "ord_9876543210"}
