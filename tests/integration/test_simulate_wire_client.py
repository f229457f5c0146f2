"""The simulator's lean HTTP/1.1 client against real servers on 127.0.0.1: statuses, kept-alive
connections, a server that closes, one that never answers, one that answers garbage."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.receivers import raw_server, read_request, receiver

from rampwire.dialects.base import WireRequest
from rampwire.simulate.wire_client import WireClient

REQUEST = WireRequest(headers={"content-type": "application/json", "x-sig": "abc"}, body=b'{"a":1}')


async def test_statuses_and_bytes_as_sent_over_few_connections() -> None:
    async with receiver() as hooks:
        answers = iter([200, 500, 401] * 20)
        hooks.answer = lambda _: next(answers)
        client = WireClient(hooks.url, connections=4, timeout=5)
        got = await asyncio.gather(*(client.send(REQUEST) for _ in range(60)))
        client.close()
        assert sorted(got) == sorted([200, 500, 401] * 20)
        assert all(r.body == b'{"a":1}' and r.headers["x-sig"] == "abc" for r in hooks.requests)


async def test_a_server_that_closes_after_each_answer() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()

    async with raw_server(handle) as server:
        client = WireClient(server.url, connections=1, timeout=5)
        assert [await client.send(REQUEST) for _ in range(3)] == [204, 204, 204]
        client.close()
    assert server.connections == 3


@pytest.mark.parametrize(
    "reply", [None, b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab"]
)
async def test_no_answer_in_time_or_a_broken_one_is_none(reply: bytes | None) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
            if reply.endswith(b"ab"):
                writer.close()  # the body is cut short
                return
        await asyncio.Event().wait()

    async with raw_server(handle) as server:
        client = WireClient(server.url, connections=1, timeout=0.3)
        assert await client.send(REQUEST) is None
        client.close()


async def test_nothing_listening_is_none_and_https_is_refused() -> None:
    async with raw_server(lambda r, w: asyncio.sleep(0)) as server:
        url = server.url
    client = WireClient(url, connections=1, timeout=2)
    assert await client.send(REQUEST) is None
    with pytest.raises(ValueError, match="http://"):
        WireClient("https://example.com/", connections=1, timeout=1)
