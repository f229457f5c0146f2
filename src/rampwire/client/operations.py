"""Every operation of the API and the client method that calls it, as ``resource.method``.

``tests/unit/test_client_operations.py`` reads ``/openapi.json`` at run time and fails on an
operation missing here and on an entry here the API no longer has; and on a method named here
that ``AsyncClient`` or ``Client`` lacks.
"""

from __future__ import annotations

OPERATIONS: dict[tuple[str, str], str] = {
    # orders
    ("POST", "/v1/orders"): "orders.create",
    ("GET", "/v1/orders"): "orders.list",
    ("GET", "/v1/orders/{order_id}"): "orders.get",
    ("POST", "/v1/orders/{order_id}/changes"): "orders.change",
    ("GET", "/v1/orders/{order_id}/timeline"): "orders.timeline",
    # endpoints
    ("POST", "/v1/endpoints"): "endpoints.create",
    ("GET", "/v1/endpoints"): "endpoints.list",
    ("GET", "/v1/endpoints/{endpoint_id}"): "endpoints.get",
    ("PATCH", "/v1/endpoints/{endpoint_id}"): "endpoints.update",
    ("DELETE", "/v1/endpoints/{endpoint_id}"): "endpoints.delete",
    ("GET", "/v1/endpoints/{endpoint_id}/secret"): "endpoints.secrets",
    ("POST", "/v1/endpoints/{endpoint_id}/secret/rotate"): "endpoints.rotate_secret",
    ("GET", "/v1/endpoints/{endpoint_id}/headers"): "endpoints.headers",
    ("GET", "/v1/endpoints/{endpoint_id}/deliveries"): "endpoints.deliveries",
    ("POST", "/v1/endpoints/{endpoint_id}/replay"): "endpoints.replay",
    ("GET", "/v1/endpoints/{endpoint_id}/pending-events"): "endpoints.pending_events",
    ("POST", "/v1/endpoints/{endpoint_id}/test-events"): "endpoints.send_test_event",
    # deliveries and events
    ("GET", "/v1/deliveries/{delivery_id}"): "deliveries.get",
    ("POST", "/v1/deliveries/{delivery_id}/replay"): "deliveries.replay",
    ("POST", "/v1/deliveries/{delivery_id}/retry"): "deliveries.retry",
    ("GET", "/v1/events/{event_id}/deliveries"): "events.deliveries",
    ("GET", "/v1/event-types"): "event_types.list",
    # ingest
    ("POST", "/v1/sources"): "sources.create",
    ("GET", "/v1/sources"): "sources.list",
    ("GET", "/v1/sources/{source}"): "sources.get",
    ("PATCH", "/v1/sources/{source}"): "sources.update",
    ("DELETE", "/v1/sources/{source}"): "sources.delete",
    ("GET", "/v1/inbound"): "inbound.list",
    ("GET", "/v1/inbound/{record}"): "inbound.get",
    ("POST", "/v1/inbound/{record}/reprocess"): "inbound.reprocess",
    ("POST", "/ingest/{source}"): "ingest.send",
    ("POST", "/ingest/{source}/{token}"): "ingest.send",
    # partners and authorization
    ("POST", "/v1/partners"): "partners.create",
    ("GET", "/v1/partners"): "partners.list",
    ("GET", "/v1/partners/{partner}"): "partners.get",
    ("PATCH", "/v1/partners/{partner}"): "partners.update",
    ("DELETE", "/v1/partners/{partner}"): "partners.delete",
    ("POST", "/v1/partners/{partner}/keys"): "partners.create_key",
    ("POST", "/v1/partners/{partner}/portal-links"): "partners.portal_link",
    ("GET", "/v1/authorization"): "authorization.get",
    ("PUT", "/v1/authorization"): "authorization.set",
    ("DELETE", "/v1/authorization"): "authorization.delete",
    ("GET", "/v1/authorization/decisions"): "authorization.decisions",
    ("GET", "/v1/partners/{partner}/authorization"): "authorization.get",
    ("PUT", "/v1/partners/{partner}/authorization"): "authorization.set",
    ("DELETE", "/v1/partners/{partner}/authorization"): "authorization.delete",
    # listen sessions (rampwire listen)
    ("POST", "/v1/listen-sessions"): "listen_sessions.create",
    ("GET", "/v1/listen-sessions/{session_id}"): "listen_sessions.get",
    ("DELETE", "/v1/listen-sessions/{session_id}"): "listen_sessions.delete",
    ("GET", "/v1/listen-sessions/{session_id}/stream"): "listen_sessions.stream",
    # the server
    ("GET", "/healthz"): "service.health",
    ("GET", "/readyz"): "service.ready",
    ("GET", "/.well-known/jwks.json"): "service.jwks",
    ("GET", "/.well-known/webhook-public-keys"): "service.webhook_public_keys",
}

__all__ = ["OPERATIONS"]
