"""A TCP proxy on 127.0.0.1 that a test controls, to make a server (PostgreSQL) fail on cue.

:class:`TcpProxy` forwards every connection to a target and can

- :meth:`~TcpProxy.cut` every open connection (RST: ``SO_LINGER`` 0, then abort), as a server
  that crashed or restarted leaves its clients;
- :meth:`~TcpProxy.refuse` new connections: the listening socket is closed, so a client's
  connect fails with ``ConnectionRefusedError``, as when nothing listens on the port;
- :meth:`~TcpProxy.stall`: accept, and hold the bytes in both directions without forwarding
  them, as a partition or a frozen server;
- :meth:`~TcpProxy.restore`: listen again on the same port, forward what was held.

A server that is down is :meth:`~TcpProxy.refuse` then :meth:`~TcpProxy.cut`, in that order:
a client that reconnects between the two would keep a working connection through the outage.

Its methods are coroutines of the loop that started it. :func:`proxy_in_thread` runs one on its
own loop in a background thread, with blocking methods, for a caller whose loop is busy or who
has none (the chaos runner).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 64 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)  # close() sends RST instead of FIN


class TcpProxy:
    """Forward 127.0.0.1:``port`` (ephemeral, fixed once started) to ``host``:``target_port``."""

    def __init__(self, host: str, target_port: int) -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0  # connections accepted, for tests
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[_Link] = set()

    async def start(self) -> None:
        await self._listen()

    async def close(self) -> None:
        """Stop listening, reset every connection and wait for their tasks to end."""
        await self.refuse()
        tasks = [link.task for link in self._links if link.task is not None]
        await self.cut()
        self._flowing.set()  # held chunks see their link dead and are dropped
        await asyncio.gather(*tasks, return_exceptions=True)

    async def cut(self) -> None:
        """Reset every open connection, on both sides."""
        for link in list(self._links):
            link.reset()
        self._links.clear()

    async def refuse(self) -> None:
        """Stop listening: new connections are refused. Open ones are left alone."""
        if self._server is not None:
            self._server.close()  # not wait_closed(): on 3.12+ it waits for every connection
            self._server = None

    async def stall(self) -> None:
        """Keep accepting, stop forwarding: bytes are read and held."""
        self._flowing.clear()

    async def restore(self) -> None:
        """Listen again (same port) and forward, held bytes first."""
        if self._server is None:
            await self._listen()
        self._flowing.set()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer, asyncio.current_task())
        if self._server is None:
            # Accepted just before refuse(), handled after: it would outlive the next cut().
            link.reset()
            return
        self._links.add(link)
        try:
            await self._flowing.wait()
            if link.dead:
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
            except OSError:
                link.reset()  # the target is down: the client sees its connection reset
                return
            link.upstream = up_writer
            if link.dead:
                link.reset()
                return
            await asyncio.gather(
                self._pump(reader, up_writer, link), self._pump(up_reader, writer, link)
            )
        finally:
            self._links.discard(link)
            link.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()  # stalled: hold the chunk until restored
                if link.dead:
                    return
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            link.reset()  # one side failed: the other sees it fail too


class _Link:
    """One proxied connection: the client's side and, once connected, the target's."""

    def __init__(self, client: asyncio.StreamWriter, task: asyncio.Task[Any] | None) -> None:
        self.client = client
        self.task = task
        self.upstream: asyncio.StreamWriter | None = None
        self.dead = False

    def reset(self) -> None:
        self.dead = True
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            writer.transport.abort()

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.close()


class ThreadedProxy:
    """A :class:`TcpProxy` on its own loop in a background thread; methods block until done."""

    def __init__(self, proxy: TcpProxy, loop: asyncio.AbstractEventLoop) -> None:
        self._proxy = proxy
        self._loop = loop

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def accepted(self) -> int:
        return self._proxy.accepted

    def cut(self) -> None:
        self._call(self._proxy.cut())

    def refuse(self) -> None:
        self._call(self._proxy.refuse())

    def stall(self) -> None:
        self._call(self._proxy.stall())

    def restore(self) -> None:
        self._call(self._proxy.restore())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)


@contextmanager
def proxy_in_thread(host: str, target_port: int) -> Iterator[ThreadedProxy]:
    """Start a proxy on a new loop in a daemon thread; stop both on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tcp-proxy", daemon=True)
    thread.start()

    async def make() -> TcpProxy:
        proxy = TcpProxy(host, target_port)  # its Event belongs to this loop
        await proxy.start()
        return proxy

    try:
        proxy = asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=10)
        threaded = ThreadedProxy(proxy, loop)
        try:
            yield threaded
        finally:
            threaded._call(proxy.close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
