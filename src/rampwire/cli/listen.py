"""``rampwire listen``: a remote rampwire's order events, forwarded to a local URL.

Like ``stripe listen``: the server cannot reach the developer's machine, so the CLI opens a
listen session and reads its events as server-sent events, then POSTs each one, byte for byte
as the server signed it, to ``--forward-to``. A dropped stream is opened again with the last
event id (``Last-Event-ID``), and events seen twice (a reconnect sends a few seconds again, in
case one committed late) are forwarded once. Ctrl-C (or SIGTERM) closes the session; a
``kill -9`` leaves it to expire on the server.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import click
import httpx
import orjson

from ..client import APIError, AsyncClient, ConnectionFailed, ProblemError
from ..client.records import ListenSession

RECONNECT_MIN_S, RECONNECT_MAX_S = 0.5, 10.0
SEEN = 10_000  # event ids remembered, to forward each once
FORWARD_TIMEOUT_S = 30.0


class SessionGone(Exception):
    """The server closed the session (deleted, or expired while unread)."""


GONE = frozenset({401, 403, 404})  # closed, expired, or the key no longer opens it


class Listener:
    def __init__(
        self,
        client: AsyncClient,
        forward: httpx.AsyncClient | None,
        forward_to: str | None,
        *,
        print_json: bool,
    ) -> None:
        self._client = client
        self._forward = forward
        self._forward_to = forward_to
        self._print_json = print_json
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.last_event_id: str | None = None
        self.forwarded = 0

    async def open(self, body: dict[str, Any]) -> ListenSession:
        try:
            return await self._client.listen_sessions.create(**body)
        except ProblemError as exc:
            raise click.ClickException(f"cannot open a listen session: {exc}") from exc

    async def close(self, session_id: str) -> bool:
        try:
            await self._client.listen_sessions.delete(session_id)
        except ProblemError as exc:
            return exc.status == 404
        except APIError:
            return False
        return True

    async def run(self, session: ListenSession) -> None:
        """Read the stream, reconnecting with the last event id, until the session is gone."""
        wait = RECONNECT_MIN_S
        sessions = self._client.listen_sessions
        while True:
            try:
                async for message in sessions.stream(session.id, last_event_id=self.last_event_id):
                    wait = RECONNECT_MIN_S
                    if message.event == "closed":
                        raise SessionGone("the session was closed")
                    if message.event == "webhook":
                        await self._handle(message.id, orjson.loads(message.data))
                    elif message.event == "skipped":
                        self._skipped(message.id, orjson.loads(message.data))
                continue  # the server ends a stream every few seconds: open it again at once
            except ProblemError as exc:
                if exc.status in GONE:
                    raise SessionGone(str(exc)) from exc
                reason = str(exc)
            except APIError as exc:
                reason = str(exc)
            _say(f"stream interrupted ({reason}); reconnecting", err=True)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_S)

    def _skipped(self, event_id: str, data: dict[str, Any]) -> None:
        self.last_event_id = event_id or self.last_event_id
        if self._first_time(data["event_id"]):
            when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            _say(f"{when}  skipped {data['type']} {data['order_id']}: {data['reason']}", err=True)

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        return True

    async def _handle(self, event_id: str, data: dict[str, Any]) -> None:
        self.last_event_id = event_id or self.last_event_id
        if not self._first_time(data["event_id"]):
            return
        body = data["body"].encode() if "body" in data else _b64(data["body_base64"])
        if self._print_json:  # the event as its receiver would read it, on one line
            try:
                click.echo(orjson.dumps(orjson.loads(body)).decode())
            except orjson.JSONDecodeError:
                click.echo(body.decode("utf-8", "replace"))
            return
        assert self._forward is not None and self._forward_to is not None
        started = time.perf_counter()
        try:
            answer = await self._forward.post(
                self._forward_to, content=body, headers=data["headers"], timeout=FORWARD_TIMEOUT_S
            )
            outcome = f"[{answer.status_code}]"
        except httpx.HTTPError as exc:
            outcome = f"[{type(exc).__name__}]"
        took = (time.perf_counter() - started) * 1000
        self.forwarded += 1
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{when}  --> {data['type']:<28} {data['order_id']}  {data.get('status') or '-':<20}"
            f" <-- {outcome} {took:.0f} ms  {data['event_id']}"
        )


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _say(text: str, *, err: bool = False) -> None:
    click.echo(text, err=err)


async def _listen(
    url: str,
    api_key: str,
    body: dict[str, Any],
    forward_to: str | None,
    *,
    print_json: bool,
) -> None:
    async with (
        AsyncClient(url, api_key, timeout=10.0) as client,
        httpx.AsyncClient() as forward,
    ):
        listener = Listener(client, forward, forward_to, print_json=print_json)
        session = await listener.open(body)
        secret = session.secret
        _say(f"Ready. Listen session {session.id} (events: {', '.join(session.event_types)},"
             f" dialect {session.dialect}); Ctrl-C to close it.")  # fmt: skip
        if secret is not None:
            _say(f"Your webhook signing secret is {secret}")
        else:
            _say(f"Events are signed with rampwire's key: {url.rstrip('/')}/.well-known/jwks.json")
        if forward_to is not None and not print_json:
            _say(f"Forwarding to {forward_to}")
        sys.stdout.flush()
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        stopped: list[int] = []

        def stop(signum: int) -> None:
            stopped.append(signum)
            main.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop, signum)
        try:
            await listener.run(session)
        except SessionGone as exc:
            raise click.ClickException(f"listen session {session.id} ended: {exc}") from exc
        except asyncio.CancelledError:
            if not stopped:
                raise
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        closed = await listener.close(session.id)
        _say(f"listen session {session.id} {'closed' if closed else 'not closed (it expires)'}")


@click.command("listen")
@click.option("--url", envvar="RAMPWIRE_URL", required=True, help="rampwire's URL [RAMPWIRE_URL].")
@click.option(
    "--api-key", envvar="RAMPWIRE_API_KEY", required=True, help="An API key [RAMPWIRE_API_KEY]."
)
@click.option("--forward-to", help="The local URL each event is POSTed to.")
@click.option(
    "--events", default="order.*", show_default=True, help="Event-type patterns, comma-separated."
)
@click.option("--partner", default=None, help="An operator key: one partner's orders only.")
@click.option("--dialect", default="standard", show_default=True, help="The wire format.")
@click.option("--print-json", is_flag=True, help="Print each event as JSON; forward nothing.")
def listen_command(
    url: str,
    api_key: str,
    forward_to: str | None,
    events: str,
    partner: str | None,
    dialect: str,
    print_json: bool,
) -> None:
    """Stream a remote rampwire's order events to a local URL (it need not reach you).

    Each event is signed as a delivery would be, with the session's secret (printed at start)
    or in the --dialect's scheme, and POSTed to --forward-to; one line per event shows its
    type, order, status and the local answer's status and latency."""
    if forward_to is None and not print_json:
        raise click.UsageError("give --forward-to URL, or --print-json")
    body: dict[str, Any] = {
        "event_types": [p.strip() for p in events.split(",") if p.strip()],
        "dialect": dialect,
    }
    if partner is not None:
        body["partner_id"] = partner
    try:
        asyncio.run(_listen(url, api_key, body, forward_to, print_json=print_json))
    except ConnectionFailed as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc
