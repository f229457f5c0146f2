"""The listen-session API (the server side of `rampwire listen`) in process, both back-ends:
bad input is a 400 naming the field, nothing written; a session that nobody read past its idle
timeout is gone on access; a stream's reading of the log catches an event that commits after a
greater id was seen, once. Streaming end to end is tests/e2e/test_listen_cli.py's."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from rampwire.crypto import secret_box
from rampwire.domain.partners import OPERATOR
from rampwire.ids import new_id
from rampwire.repository.listen_sessions import ListenSessionRepository
from rampwire.services.listening import Tail, id_floor
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow


async def count(db: Database) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM listen_sessions"))


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"dialect": "nope"}, "dialect", "is not a dialect"),
        ({"event_types": ["bogus*x"]}, "event_types.0", "is not a pattern"),
        ({"event_types": ["order.nothing"]}, "event_types.0", "matches no event type"),
        ({"event_types": ["endpoint.*"]}, "event_types.0", "matches no order event"),
        ({"event_types": []}, "event_types", "at least one pattern"),
        ({"event_types": ["order.anomaly"], "dialect": "transak"}, "event_types.0", "transak"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    api: httpx.AsyncClient, db: Database, body: dict[str, object], field: str, says: str
) -> None:
    answer = await api.post("/v1/listen-sessions", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["errors"][0]["field"] == field and says in problem["detail"], problem
    assert await count(db) == 0


async def test_a_malformed_id_or_last_event_id_is_a_400(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/listen-sessions/nope")).status_code == 400
    made = (await api.post("/v1/listen-sessions", json={})).json()
    answer = await api.get(made["stream_url"], headers={"Last-Event-ID": "42"})
    assert answer.status_code == 400 and "not an event id" in answer.json()["detail"]
    unknown = await api.get(f"/v1/listen-sessions/{new_id('lsn')}")
    assert unknown.status_code == 404


async def test_a_session_unread_past_its_idle_timeout_is_gone_on_access(
    api: httpx.AsyncClient, db: Database
) -> None:
    made = await api.post("/v1/listen-sessions", json={"event_types": ["order.completed"]})
    assert made.status_code == 201, made.text
    session = made.json()
    assert session["secret"].startswith("whsec_") and session["event_types"] == ["order.completed"]
    assert (await api.get(f"/v1/listen-sessions/{session['id']}")).status_code == 200
    async with db.transaction() as conn:  # as if last read two minutes ago (idle: 60 s)
        await conn.execute("UPDATE listen_sessions SET read_at = read_at - 120000000")
    gone = await api.get(f"/v1/listen-sessions/{session['id']}")
    assert gone.status_code == 404 and "expired" in gone.json()["detail"]
    assert await count(db) == 0


async def test_delete_closes_a_session(api: httpx.AsyncClient, db: Database) -> None:
    session = (await api.post("/v1/listen-sessions", json={"dialect": "fireblocks"})).json()
    assert session["secret"] is None  # rampwire's RSA key signs
    assert (await api.delete(f"/v1/listen-sessions/{session['id']}")).status_code == 204
    assert (await api.delete(f"/v1/listen-sessions/{session['id']}")).status_code == 404
    assert await count(db) == 0


async def test_a_late_commit_below_the_cursor_is_read_once_and_again_after_a_reconnect(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    repo = ListenSessionRepository(db, secret_box(settings))
    made = (await api.post("/v1/listen-sessions", json={})).json()
    session = await repo.get(made["id"], OPERATOR, now=utcnow(), idle=timedelta(minutes=1))
    late_id = new_id("evt")  # made now, committed only after the next event is read
    order = (await api.post("/v1/orders", json={"side": "buy"})).json()
    tail = Tail(repo, session, session.after_id)
    first, _ = await tail.read(utcnow())
    assert [e.type for e in first] == ["order.created"] and first[0].payload is not None
    assert late_id < tail.cursor
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO events (id, type, order_id, sequence, created_at, payload)"
            " SELECT $1, 'order.updated', order_id, 2, created_at, payload FROM events"
            " WHERE order_id = $2",
            late_id,
            order["id"],
        )
    late, _ = await tail.read(utcnow())
    assert [e.id for e in late] == [late_id]
    assert (await tail.read(utcnow()))[0] == []  # once
    again = Tail(repo, session, tail.cursor)  # a reconnect sends the window again
    assert {e.id for e in (await again.read(utcnow()))[0]} == {late_id, first[0].id}


def test_id_floor_sorts_below_every_id_made_after() -> None:
    before = id_floor("evt", utcnow())
    assert before < new_id("evt") and len(before) == len(new_id("evt"))
