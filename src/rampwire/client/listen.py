"""``client.listen_sessions``: a server's order events streamed to a client it cannot reach
(``rampwire listen``; the server side is ``docs/listen.md``).

A session is opened with ``create`` (its ``secret`` signs the events, or the dialect's scheme
does), read with ``stream`` (server-sent events, from after ``last_event_id`` when given) and
closed with ``delete``; a session no stream reads expires on the server by itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .records import ListenSession
from .resources import Resource, fields, read, segment


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One server-sent event: ``event`` (``webhook``, ``skipped``, ``closed``), the event id
    to resume after, and its ``data`` (JSON text)."""

    event: str
    id: str
    data: str


class ListenSessions(Resource):
    async def create(
        self,
        *,
        event_types: Sequence[str] | None = None,
        dialect: str | None = None,
        partner_id: str | None = None,
    ) -> ListenSession:
        body = fields(
            event_types=None if event_types is None else list(event_types),
            dialect=dialect,
            partner_id=partner_id,
        )
        return read(ListenSession, await self._t.send("POST", "/v1/listen-sessions", json=body))

    async def get(self, session_id: str) -> ListenSession:
        path = f"/v1/listen-sessions/{segment(session_id)}"
        return read(ListenSession, await self._t.send("GET", path))

    async def delete(self, session_id: str) -> None:
        await self._t.send("DELETE", f"/v1/listen-sessions/{segment(session_id)}")

    async def stream(
        self, session_id: str, *, last_event_id: str | None = None, read_timeout: float = 60.0
    ) -> AsyncIterator[StreamMessage]:
        """The session's messages as they come, until the server ends the stream (it does
        every few seconds: open it again with the last id read). A problem (the session gone:
        404) is raised as ``ProblemError``, a dropped connection as ``ConnectionFailed``."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        path = f"/v1/listen-sessions/{segment(session_id)}/stream"
        async with self._t.stream(path, headers=headers, read_timeout=read_timeout) as answer:
            event, event_id, data = "message", "", list[str]()
            async for line in answer.aiter_lines():
                if line == "":
                    if data:
                        yield StreamMessage(event, event_id, "\n".join(data))
                    event, event_id, data = "message", "", []
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "id":
                    event_id = value
                elif name == "data":
                    data.append(value)


__all__ = ["ListenSessions", "StreamMessage"]
