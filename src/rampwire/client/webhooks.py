"""The emit side: ``client.endpoints``, ``client.deliveries``, ``client.events``,
``client.event_types`` (``/v1/endpoints``, ``/v1/deliveries``, ``/v1/events``,
``/v1/event-types``)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from .records import Delivery, Endpoint, EventType, PendingEvent, ReplayResult, Secret
from .resources import DEFAULT_PAGE_SIZE, Resource, fields, read, read_list, segment


def _path(endpoint_id: str, tail: str = "") -> str:
    return f"/v1/endpoints/{segment(endpoint_id)}{tail}"


class Endpoints(Resource):
    async def create(
        self,
        /,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        dialect: str | None = None,
        partner_id: str | None = None,
        partners: Sequence[str] | None = None,
        **options: Any,
    ) -> Endpoint:
        """Subscribe ``url``; the answer carries its signing ``secret`` (this once). ``options``:
        any further field of ``EndpointIn`` (``headers``, ``rate_limit``, ``max_in_flight``,
        ``ordering``, ``retry_policy``, ``signatures``, ``traceparent``, ``enabled``,
        ``secret``)."""
        body = fields(
            url=url,
            event_types=None if event_types is None else list(event_types),
            description=description,
            dialect=dialect,
            partner_id=partner_id,
            partners=None if partners is None else list(partners),
            **options,
        )
        return read(Endpoint, await self._t.send("POST", "/v1/endpoints", json=body))

    async def get(self, endpoint_id: str) -> Endpoint:
        return read(Endpoint, await self._t.send("GET", _path(endpoint_id)))

    def list(
        self, *, partner: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Endpoint]:
        return self._pages("/v1/endpoints", Endpoint, {"partner": partner}, page_size)

    async def update(self, /, endpoint_id: str, **changes: Any) -> Endpoint:
        """Change the given fields of ``EndpointPatch`` (``url``, ``enabled``, ``event_types``...);
        a field given as None is sent as null (``rate_limit=None`` removes the limit)."""
        return read(Endpoint, await self._t.send("PATCH", _path(endpoint_id), json=changes))

    async def delete(self, endpoint_id: str) -> None:
        await self._t.send("DELETE", _path(endpoint_id))

    async def secrets(self, endpoint_id: str) -> builtins.list[Secret]:
        """The signing secrets: the current one, and during a rotation the old one until it
        expires."""
        answer = await self._t.send("GET", _path(endpoint_id, "/secret"))
        return [read(Secret, s) for s in answer.get("secrets", [])]

    async def rotate_secret(
        self, endpoint_id: str, *, secret: str | None = None
    ) -> builtins.list[Secret]:
        """A new secret (yours, or a generated one); the old one keeps signing for 24 h."""
        answer = await self._t.send(
            "POST", _path(endpoint_id, "/secret/rotate"), json=fields(secret=secret)
        )
        return [read(Secret, s) for s in answer.get("secrets", [])]

    async def headers(self, endpoint_id: str) -> dict[str, str]:
        """The custom headers sent with every delivery, values in clear."""
        answer = await self._t.send("GET", _path(endpoint_id, "/headers"))
        return dict(answer.get("headers", {}))

    def deliveries(
        self,
        endpoint_id: str,
        *,
        status: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Delivery]:
        """This endpoint's deliveries, newest first (optionally only some statuses)."""
        query = {"status": None if status is None else list(status)}
        return self._pages(_path(endpoint_id, "/deliveries"), Delivery, query, page_size)

    async def replay(self, endpoint_id: str, *, since: datetime) -> ReplayResult:
        """Recover: retry now what still retries, send again what died, since ``since``."""
        answer = await self._t.send(
            "POST", _path(endpoint_id, "/replay"), json={"since": since.isoformat()}
        )
        return read(ReplayResult, answer)

    async def send_test_event(self, endpoint_id: str, *, event_type: str | None = None) -> Delivery:
        """Send an example event (``order.completed`` unless ``event_type``) to this endpoint
        only, in its format, whatever its event types: the new delivery (409 if disabled)."""
        body = fields(event_type=event_type)
        return read(
            Delivery, await self._t.send("POST", _path(endpoint_id, "/test-events"), json=body)
        )

    def pending_events(
        self, endpoint_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[PendingEvent]:
        """Pull: the events this endpoint has not received yet, oldest first."""
        return self._pages(_path(endpoint_id, "/pending-events"), PendingEvent, {}, page_size)


class Deliveries(Resource):
    async def get(self, delivery_id: str) -> Delivery:
        """One delivery with its ``attempt_log`` (requests, responses, durations, errors)."""
        path = f"/v1/deliveries/{segment(delivery_id)}"
        return read(Delivery, await self._t.send("GET", path))

    async def replay(self, delivery_id: str) -> Delivery:
        """Send the same event to the same endpoint again, as a new delivery (answered)."""
        path = f"/v1/deliveries/{segment(delivery_id)}/replay"
        return read(Delivery, await self._t.send("POST", path))

    async def retry(self, delivery_id: str) -> Delivery:
        """Make a waiting delivery due now, its attempts kept (409 if it does not wait)."""
        path = f"/v1/deliveries/{segment(delivery_id)}/retry"
        return read(Delivery, await self._t.send("POST", path))


class Events(Resource):
    async def deliveries(self, event_id: str, *, limit: int | None = None) -> list[Delivery]:
        """Every delivery of one event: one per endpoint it went to, plus replays."""
        path = f"/v1/events/{segment(event_id)}/deliveries"
        return read_list(Delivery, await self._t.send("GET", path, query={"limit": limit}))

    async def resend(self, event_id: str) -> list[Delivery]:
        """Send the event again to every endpoint it went to: one replay per endpoint, of its
        newest delivery (the answer: the new deliveries)."""
        newest: dict[str, Delivery] = {}
        for delivery in await self.deliveries(event_id):
            seen = newest.get(delivery.endpoint_id)
            if seen is None or delivery.created_at > seen.created_at:
                newest[delivery.endpoint_id] = delivery
        replay = Deliveries(self._t).replay
        return [await replay(d.id) for d in newest.values()]


class EventTypes(Resource):
    async def list(self) -> list[EventType]:
        """The event catalogue: every type with its description and JSON schema."""
        return read_list(EventType, await self._t.send("GET", "/v1/event-types"))


__all__ = ["Deliveries", "Endpoints", "EventTypes", "Events"]
