"""A fast webhook receiver for the delivery benchmark, run in its own process, and
:class:`ReceiverProcess`, which starts, talks to and stops it.

A raw HTTP/1.1 server on uvloop (asyncio protocol, keep-alive, Content-Length bodies, no
pipelining needed: aiohttp's client sends one request at a time per connection). Every POST is
answered ``200 ok``, after ``--delay`` seconds if given. It spends as little CPU as possible so
the process under test keeps its core.

Control paths, for the benchmark itself (never counted):

- ``GET /__stats``: ``{"count": <requests answered>, "received": <requests read>,
  "duplicates": <requests whose webhook-id had arrived before, while recording>}``
- ``POST /__reset``: counters to zero, arrival recording off, arrivals forgotten
- ``POST /__record``: like reset, then remember the first arrival time (``time.time()``) of
  every ``webhook-id`` (for a sender that sends none, django-webhook's, the first ``"id"``
  field of the body: the order's id), and count the requests that repeat one (an attempt sent
  twice)
- ``GET /__arrivals``: ``{"<webhook-id>": <unix time>, ...}``

Usage: ``python bench/harness/receiver.py [--port 0] [--delay 0.25]``; prints ``READY <port>`` once
listening, exits on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import uvloop

if TYPE_CHECKING:
    import aiohttp

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_MAX_HEAD = 64 * 1024
_BODY_ID = re.compile(rb'"id":\s*"([^"]{1,200})"')


class State:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received = 0
        self.answered = 0
        self.recording = False
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0

    def reset(self, *, record: bool) -> None:
        self.received = self.answered = self.duplicates = 0
        self.recording = record
        self.arrivals = {}


def _header(head: bytes, lower: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower case) in ``head``; ``lower`` is ``head.lower()``."""
    start = lower.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = lower.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


class Handler(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self._state = state
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._close()
                return
            head = bytes(self._buffer[:end])
            lower = head.lower()
            length = _header(head, lower, b"content-length")
            total = end + 4 + (int(length) if length else 0)
            if len(self._buffer) < total:
                return
            body = bytes(self._buffer[end + 4 : total]) if self._state.recording else b""
            del self._buffer[:total]
            self._request(head, lower, body)

    def _request(self, head: bytes, lower: bytes, body: bytes) -> None:
        state = self._state
        if lower.startswith((b"post /__", b"get /__")):
            self._control(head)
            return
        state.received += 1
        if state.recording:
            webhook_id = _header(head, lower, b"webhook-id")
            if webhook_id is None and (found := _BODY_ID.search(body)) is not None:
                webhook_id = found[1]
            if webhook_id is not None:
                key = webhook_id.decode("ascii", "replace")
                if key in state.arrivals:
                    state.duplicates += 1
                else:
                    state.arrivals[key] = time.time()
        if state.delay > 0:
            self._loop.call_later(state.delay, self._answer)
        else:
            self._answer()

    def _answer(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(_OK)
            self._state.answered += 1

    def _control(self, head: bytes) -> None:
        state = self._state
        path = head.split(b" ", 2)[1]
        body: object = {}
        if path == b"/__stats":
            body = {
                "count": state.answered,
                "received": state.received,
                "duplicates": state.duplicates,
            }
        elif path == b"/__reset":
            state.reset(record=False)
        elif path == b"/__record":
            state.reset(record=True)
        elif path == b"/__arrivals":
            body = state.arrivals
        payload = json.dumps(body).encode()
        if self._transport is not None:
            self._transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    state = State(delay)
    server = await loop.create_server(
        lambda: Handler(state), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"READY {bound}\n")
    sys.stdout.flush()
    async with server:
        await stop.wait()


class ReceiverProcess:
    """This program in its own process; controlled over HTTP on its /__ paths."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--port", "0", "--delay", str(self.delay)],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 15.0)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the receiver did not start (got {line!r})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc is None:
            return
        pid = self.proc.pid
        if self.proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    async def call(self, session: aiohttp.ClientSession, method: str, path: str) -> Any:
        async with session.request(method, f"http://127.0.0.1:{self.port}{path}") as response:
            return await response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.delay))


if __name__ == "__main__":
    main()
