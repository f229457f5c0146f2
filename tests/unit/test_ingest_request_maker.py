"""The ingest front's request record, made through its slots, holds each value in the field the
keyword constructor puts it."""

from __future__ import annotations

from rampwire.api.ingest import _request
from rampwire.ingest.inbound import InboundRequest
from rampwire.types import utcnow


def test_the_front_makes_the_request_the_constructor_makes() -> None:
    headers, body, now = {"content-type": "application/json"}, b"{}", utcnow()
    made = _request((headers, body, now, "192.0.2.7", "url-token"))
    assert made == InboundRequest(
        headers=headers, body=body, received_at=now, peer_ip="192.0.2.7", url_token="url-token"
    )
    assert made.headers is headers and made.body is body and made.received_at is now
